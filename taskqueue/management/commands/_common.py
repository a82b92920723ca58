"""Shared by the taskqueue and recipe commands: one wording for "Redis is down"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import CommandError

from taskqueue.compat import task_backends
from taskqueue.exceptions import BrokerUnavailable


def default_backend() -> Any:
    return task_backends["default"]


@contextmanager
def broker_errors(backend: Any) -> Iterator[None]:
    """Turn BrokerUnavailable into a one-line CommandError (exit code 1)."""
    try:
        yield
    except BrokerUnavailable:
        raise CommandError(
            f"Redis is unavailable at {backend.broker.safe_url}; is it running?"
        ) from None
