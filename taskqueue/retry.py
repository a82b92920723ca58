"""The retry and dead-letter policy, whole: decide, delay, next attempt, limit.

Where each part takes effect: the executor asks ``after_failure`` what a
failure comes to; the settle stores a ``RetryLater`` as ``next_attempt``'s
envelope in the queue's ``scheduled`` set, due after its delay (settle.lua,
in the same atomic step that records the error); the claim promotes it
when due (claim.lua). A message delivered ``max_deliveries`` times without
an outcome (its workers died running it) is dead-lettered instead of run
(``delivery_limit``). ``backoff`` also paces reconnects to Redis.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from taskqueue import attempts
from taskqueue.outcomes import Failed, RetryLater
from taskqueue.policy import TaskPolicy
from taskqueue.protocol import Envelope


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(n-1))].

    Full jitter spreads the retries of many failing tasks (or many workers
    reconnecting after an outage) instead of sending them back in waves.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(0, ceiling)  # noqa: S311 (jitter, not security)


def after_failure(  # noqa: PLR0913 (keyword-only: what one failure is)
    envelope: Envelope,
    exc: BaseException,
    policy: TaskPolicy,
    *,
    error_json: bytes,
    duration: float,
    summary: str,
    failed_result: Callable[[], Any] | None = None,
) -> Failed | RetryLater:
    """RetryLater within the task's retries, else Failed.

    SystemExit, KeyboardInterrupt and GeneratorExit ask to stop, not to
    try again: FAILED at once (Django's own worker tests expect that). A
    task with a #142 ``backoff`` callable gets its delay from it, given the
    exception and ``failed_result()`` (the TaskResult after this attempt);
    its None means no more retries.
    """
    if isinstance(exc, Exception) and envelope.attempt <= policy.max_retries:
        if policy.backoff is None:
            delay: float | None = backoff(
                envelope.attempt, policy.retry_backoff, policy.retry_backoff_max
            )
        else:
            result = failed_result() if failed_result else None
            delay = attempts.delay(policy.backoff, exc, result)
        if delay is not None:
            return RetryLater(envelope, error_json, delay, summary, duration)
    return Failed(envelope, error_json, duration, summary)


def next_attempt(envelope: Envelope) -> bytes:
    """The message a retry is stored as: the same task, its attempt counted up."""
    return envelope.next_attempt().encode()


def delivery_limit(redeliveries: int, max_deliveries: int) -> str:
    """Why a message must be dead-lettered unrun ('' while it may run).

    Redeliveries count the times recovery took a message back from a dead
    consumer: one that kills every worker it reaches stops at the limit.
    """
    if redeliveries >= max_deliveries:
        return f"redelivered {redeliveries} times"
    return ""
