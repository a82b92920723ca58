"""Per-task settings (retries, time limit) that ride on the task function.

Usage::

    @task
    @taskqueue.policy.options(max_retries=5, time_limit=60)
    def send_report(report_id: int) -> None: ...

The values live on the function, so they work the same on Django 5.2 and 6.x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

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


def options(
    *,
    max_retries: int | None = None,
    retry_backoff: float | None = None,
    retry_backoff_max: float | None = None,
    time_limit: float | None = None,
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

    def decorate(func: F) -> F:
        setattr(func, ATTRIBUTE, overrides)
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
