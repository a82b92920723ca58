"""Per-task settings (retries, time limit, limits) that ride on the task function.

Usage::

    @task
    @taskqueue.policy.options(max_retries=5, time_limit=60)
    def send_report(report_id: int) -> None: ...

Unique tasks, rate limits and concurrency caps (``unique_for``,
``unique_key``, ``rate_limit``, ``concurrency``) are checked by the rules
of ``taskqueue.taskoptions``, which settings can override per task.

The values live on the function, so they work the same on Django 5.2 and 6.x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from taskqueue import taskoptions
from taskqueue.conf import QueueOptions
from taskqueue.protocol import MAX_ATTEMPT

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "_taskqueue_policy"


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    max_retries: int
    retry_backoff: float
    retry_backoff_max: float
    time_limit: float | None


def options(  # noqa: PLR0913 (one keyword per option, all keyword-only)
    *,
    max_retries: int | None = None,
    retry_backoff: float | None = None,
    retry_backoff_max: float | None = None,
    time_limit: float | None = None,
    unique_for: float | None = None,
    unique_key: Callable[[list[Any], dict[str, Any]], str] | None = None,
    rate_limit: str | None = None,
    concurrency: int | None = None,
) -> Callable[[F], F]:
    """Decorate a task function (below ``@task``) to override the queue's defaults."""
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


def policy_for(func: Callable[..., Any], defaults: QueueOptions) -> TaskPolicy:
    base = TaskPolicy(
        max_retries=defaults.max_retries,
        retry_backoff=defaults.retry_backoff,
        retry_backoff_max=defaults.retry_backoff_max,
        time_limit=defaults.time_limit,
    )
    return replace(base, **getattr(func, ATTRIBUTE, {}))
