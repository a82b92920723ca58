"""The worker's log lines for a task's life: received, then its outcome.

Users and tests read these lines (and the JSON log format's fields), so
their wording lives in this one place.
"""

from __future__ import annotations

import logging
from typing import Any

from taskqueue.outcomes import Failed, GiveBack, Outcome, Poison, RetryLater, Succeeded
from taskqueue.protocol import Envelope

log = logging.getLogger("taskqueue.worker")


def _fields(
    env: Envelope, outcome: str, duration: float | None = None
) -> dict[str, Any]:
    """Structured fields for the JSON log format (``--log-format json``)."""
    return {
        "task_id": env.id, "task": env.task, "queue": env.queue,
        "attempt": env.attempt, "duration": duration, "outcome": outcome,
    }  # fmt: skip


def received(envelope: Envelope, queue: str) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "Task received task_id=%s task=%s queue=%s attempt=%d",
            envelope.id, envelope.task, queue, envelope.attempt,
            extra=_fields(envelope, "received"),
        )  # fmt: skip


def outcome(result: Outcome) -> None:
    match result:
        case Succeeded(envelope=env, duration=duration):
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "Task succeeded in %.4fs task_id=%s", duration, env.id,
                    extra=_fields(env, "succeeded", duration),
                )  # fmt: skip
        case RetryLater(envelope=env, delay=delay, summary=summary):
            log.warning(
                "Task failed, retrying in %.2fs task_id=%s attempt=%d error=%s",
                delay, env.id, env.attempt, summary, extra=_fields(env, "retrying"),
            )  # fmt: skip
        case Failed(envelope=env, summary=summary, expected=True, duration=duration):
            log.warning(
                "Task failed, not retried task_id=%s error=%s", env.id, summary,
                extra=_fields(env, "failed", duration),
            )  # fmt: skip
        case Failed(envelope=env, summary=summary, duration=duration):
            log.error(
                "Task failed task_id=%s attempt=%d error=%s", env.id, env.attempt,
                summary, extra=_fields(env, "failed", duration),
            )  # fmt: skip
        case Poison() | GiveBack():
            pass  # logged when dead-lettered / by the outage wait
