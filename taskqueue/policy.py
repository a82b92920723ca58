"""Per-task settings (retries, time limit, limits) that ride on the task function.

Usage::

    @task
    @taskqueue.policy.options(max_attempts=6, backoff=linear, timeout=60)
    def send_report(report_id: int) -> None: ...

Unique tasks, rate limits and concurrency caps (``unique_for``,
``unique_key``, ``rate_limit``, ``concurrency``) are checked by the rules
of ``taskqueue.taskoptions``, which settings can override per task.

The values live on the function, so they work the same on Django 5.2 and 6.x.
``max_attempts`` and ``backoff`` are django/new-features#142's names
(taskqueue/attempts.py); ``max_retries=N`` is ``max_attempts=N + 1``, and
``retry_backoff``/``retry_backoff_max`` are the built-in exponential backoff
that a ``backoff`` callable replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from taskqueue import taskoptions
from taskqueue.attempts import Backoff, check_backoff, check_max_attempts
from taskqueue.conf import QueueOptions
from taskqueue.protocol import MAX_ATTEMPT

F = TypeVar("F", bound=Callable[..., Any])
MAX_TIMEOUT = 366 * 86400.0
ATTRIBUTE = "_taskqueue_policy"


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    max_retries: int
    retry_backoff: float
    retry_backoff_max: float
    time_limit: float | None  # #144's ``timeout``: the hard stop
    backoff: Backoff | None = None  # #142's callable; None: retry_backoff's curve
    soft_timeout: float | None = None  # TaskTimeout raised here, before the hard stop


def options(  # noqa: PLR0913 (one keyword-only argument per option)
    *,
    max_retries: int | None = None,
    retry_backoff: float | None = None,
    retry_backoff_max: float | None = None,
    time_limit: float | None = None,
    max_attempts: int | None = None,
    backoff: Backoff | None = None,
    timeout: float | None = None,
    soft_timeout: float | None = None,
    unique_for: float | None = None,
    unique_key: Callable[[list[Any], dict[str, Any]], str] | None = None,
    rate_limit: str | None = None,
    concurrency: int | None = None,
) -> Callable[[F], F]:
    """Decorate a task function (below ``@task``) to override the queue's defaults.

    ValueError for a bad value or for both spellings of one option.
    """
    if max_retries is not None and not (
        type(max_retries) is int and 0 <= max_retries < MAX_ATTEMPT
    ):
        raise ValueError(f"max_retries must be an int from 0 to {MAX_ATTEMPT - 1}")
    overrides = {
        name: value
        for name, value in {
            "max_retries": max_retries,
            "retry_backoff": retry_backoff,
            "retry_backoff_max": retry_backoff_max,
            "time_limit": time_limit,
        }.items()
        if value is not None
    }
    overrides.update(_attempt_options(max_attempts, backoff, overrides))
    overrides.update(_timeout_options(timeout, soft_timeout, overrides))
    control = {
        name: value
        for name, value in {
            "unique_for": unique_for,
            "unique_key": unique_key,
            "rate_limit": rate_limit,
            "concurrency": concurrency,
        }.items()
        if value is not None
    }

    def decorate(func: F) -> F:
        setattr(func, ATTRIBUTE, overrides)
        if control:
            path = f"{func.__module__}.{func.__qualname__}"
            setattr(func, taskoptions.ATTRIBUTE, taskoptions.checked(path, control))
        return func

    return decorate


def _attempt_options(
    max_attempts: int | None, backoff: Backoff | None, given: dict[str, Any]
) -> dict[str, Any]:
    """#142's two options as policy fields (max_attempts is max_retries + 1)."""
    changes: dict[str, Any] = {}
    if max_attempts is not None:
        if "max_retries" in given:
            raise ValueError("give max_attempts or max_retries, not both")
        changes["max_retries"] = check_max_attempts(max_attempts) - 1
    if backoff is not None:
        if "retry_backoff" in given or "retry_backoff_max" in given:
            raise ValueError("give backoff or retry_backoff(_max), not both")
        changes["backoff"] = check_backoff(backoff)
    elif "retry_backoff" in given or "retry_backoff_max" in given:
        changes["backoff"] = None  # the task's own curve beats a backend BACKOFF
    return changes


def _timeout_options(
    timeout: float | None, soft_timeout: float | None, given: dict[str, Any]
) -> dict[str, Any]:
    """#144's ``timeout`` (the same as ``time_limit``) and the ``soft_timeout``."""
    changes: dict[str, Any] = {}
    for name, value in (("timeout", timeout), ("soft_timeout", soft_timeout)):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value < MAX_TIMEOUT
        ):
            raise ValueError(f"{name} must be a number of seconds above 0")
    if timeout is not None:
        if "time_limit" in given:
            raise ValueError("give timeout or time_limit, not both")
        changes["time_limit"] = float(timeout)
    hard = changes.get("time_limit", given.get("time_limit"))
    if soft_timeout is not None:
        if hard is not None and soft_timeout >= hard:
            raise ValueError("soft_timeout must be shorter than timeout")
        changes["soft_timeout"] = float(soft_timeout)
    return changes


def policy_for(func: Callable[..., Any], defaults: QueueOptions) -> TaskPolicy:
    base = TaskPolicy(
        max_retries=defaults.max_retries,
        retry_backoff=defaults.retry_backoff,
        retry_backoff_max=defaults.retry_backoff_max,
        time_limit=defaults.time_limit,
        backoff=defaults.backoff,
    )
    return replace(base, **getattr(func, ATTRIBUTE, {}))
