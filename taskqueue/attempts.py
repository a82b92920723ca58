"""Retries in the shape of django/new-features#142: ``max_attempts`` and ``backoff``.

``max_attempts`` counts every run (the first one too): it is ``max_retries +
1``, and both spellings keep working. ``backoff`` is a callable
``backoff(exception, task_result) -> seconds | None`` called after each
failed attempt that may be retried, with the raw exception and the task's
result as it now stands (FAILED, this attempt's error appended, its worker
counted); None stops the retries (FAILED), a number of seconds (or a
timedelta) is the delay. Backend defaults: ``TASKS[alias]["MAX_ATTEMPTS"]``
and ``TASKS[alias]["BACKOFF"]`` (a dotted path), checked at start-up.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from taskqueue.protocol import MAX_ATTEMPT

log = logging.getLogger("taskqueue.worker")
Backoff = Callable[[BaseException, Any], Any]
MAX_DELAY = 366 * 86400.0  # a backoff past this is a bug, not a plan


def check_max_attempts(value: Any, name: str = "max_attempts") -> int:
    """``value`` as a max_attempts, or ValueError naming the range."""
    if type(value) is not int or not 1 <= value <= MAX_ATTEMPT - 1:
        raise ValueError(f"{name} must be an int from 1 to {MAX_ATTEMPT - 1}")
    return value


def check_backoff(value: Any, name: str = "backoff") -> Backoff:
    if not callable(value):
        raise ValueError(f"{name} must be a callable(exception, task_result)")
    return value  # type: ignore[no-any-return]


def backend_defaults(
    params: Mapping[str, Any], options: Mapping[str, Any]
) -> tuple[int | None, Backoff | None]:
    """``MAX_ATTEMPTS`` and ``BACKOFF`` of a TASKS entry; ImproperlyConfigured if bad.

    ``BACKOFF`` is a dotted path from settings (never from a message).
    """
    max_attempts, backoff = params.get("MAX_ATTEMPTS"), params.get("BACKOFF")
    try:
        if max_attempts is not None:
            check_max_attempts(max_attempts, "MAX_ATTEMPTS")
        if "MAX_RETRIES" in options and max_attempts is not None:
            raise ValueError("set MAX_ATTEMPTS or OPTIONS MAX_RETRIES, not both")
        if backoff is None:
            return max_attempts, None
        if not isinstance(backoff, str):
            raise ValueError("BACKOFF must be the dotted path of a callable")
        return max_attempts, check_backoff(_imported(backoff), "BACKOFF")
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def _imported(path: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ValueError(f"BACKOFF {path!r} cannot be imported: {exc}") from None


def delay(backoff: Backoff, exc: BaseException, task_result: Any) -> float | None:
    """The task's backoff asked: seconds until the next attempt, or None to stop.

    A backoff that raises or answers something else (not a finite number
    of seconds from 0 to a year, a timedelta, or None) is a bug in it: it is
    logged and the task is not retried, so a broken policy cannot loop.
    """
    try:
        answer = backoff(exc, task_result)
    except Exception:
        log.exception(
            "backoff %r raised; not retrying task_id=%s", backoff, task_result.id
        )
        return None
    if answer is None:
        return None
    if isinstance(answer, timedelta):
        answer = answer.total_seconds()
    if (
        isinstance(answer, int | float)
        and not isinstance(answer, bool)
        and math.isfinite(answer)
        and 0 <= answer <= MAX_DELAY
    ):
        return float(answer)
    log.error(
        "backoff %r returned %r, not seconds or None; not retrying task_id=%s",
        backoff, answer, task_result.id,
    )  # fmt: skip
    return None
