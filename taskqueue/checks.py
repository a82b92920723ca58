"""System checks: a bad OPTIONS block fails `manage.py check`, not the first enqueue."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from taskqueue.conf import QueueOptions

BACKEND_PATH = "taskqueue.backends.RedisBackend"


@checks.register()
def check_options(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for alias, params in getattr(settings, "TASKS", {}).items():
        if params.get("BACKEND") != BACKEND_PATH:
            continue
        try:
            QueueOptions.from_params(params)
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(f"TASKS[{alias!r}]: {exc}", id="taskqueue.E001"))
    return errors
