"""Django's task signals from the worker, without per-task waste.

Building a TaskResult and dispatching a signal costs more than running a
no-op task. Whether a signal needs sending is decided once per sender: it
does if any receiver other than Django's own logging receivers is connected,
or if those receivers' logger would actually write. Receivers are expected
to be connected at import time (``AppConfig.ready``), as Django advises.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from django.dispatch import Signal

from taskqueue.compat import TaskResult

BUILTIN_RECEIVER_MODULES = {
    "django_tasks.signals": "django_tasks",
    "django.tasks.signals": "django.tasks",
}
_FIELDS = tuple(f.name for f in dataclasses.fields(TaskResult))


def needs_sending(signal: Signal, sender: type, level: int) -> bool:
    """True if sending would reach anything but a silent built-in log receiver."""
    try:
        sync_receivers, async_receivers = signal._live_receivers(sender)
    except (AttributeError, TypeError, ValueError):  # a Django without the 5.0+ API
        return True
    for receiver in [*sync_receivers, *async_receivers]:
        logger_name = BUILTIN_RECEIVER_MODULES.get(getattr(receiver, "__module__", ""))
        if logger_name is None or logging.getLogger(logger_name).isEnabledFor(level):
            return True
    return False


def task_result(**values: Any) -> TaskResult[Any]:
    """A TaskResult for JSON-decoded args, skipping the re-normalisation Django does.

    Arguments decoded from JSON are already lists, dicts and scalars, which is
    exactly what TaskResult.__post_init__ would produce.
    """
    result: TaskResult[Any] = object.__new__(TaskResult)
    for name in _FIELDS:
        object.__setattr__(result, name, values.get(name))
    return result
