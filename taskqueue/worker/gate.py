"""Gate: a consumer asks Redis before it starts a rate-limited or capped task.

Built once per consumer from its registered tasks: ``limited`` maps the path
of each task with a ``rate_limit`` or ``concurrency`` option to its limits,
and is empty when no task has one, so the loop's check (``if gate.limited``)
is all an unlimited message pays. A message the gate defers is not an
attempt and not an outcome: it left the in-flight list inside the script,
into the scheduled set, due when its slot is free (store/gating.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from taskqueue import metrics
from taskqueue.broker import Broker, Claimed
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import TaskQueueError
from taskqueue.outcomes import Deferred, GiveBack
from taskqueue.protocol import Envelope
from taskqueue.taskoptions import TaskLimits, limits_for

log = logging.getLogger("taskqueue.worker")


def gated_tasks(
    tasks: Mapping[str, Any], options: QueueOptions
) -> dict[str, TaskLimits]:
    """Path -> limits of each registered task a worker must ask about."""
    table = {}
    for path, task in tasks.items():
        limits = limits_for(path, task.func, options.task_options)
        if limits is not None and limits.gated:
            table[path] = limits
    return table


class Gate:
    """The consumer's side of the gate script."""

    def __init__(
        self, broker: Broker, consumer_id: str, *, limited: dict[str, TaskLimits],
        timeout: float,
    ) -> None:  # fmt: skip
        self.broker = broker
        self.consumer_id = consumer_id
        self.limited = limited
        self.timeout = timeout

    def admit(
        self, queue: str, claimed: Claimed, envelope: Envelope
    ) -> Deferred | GiveBack | None:
        """None when the task may start now (its slot is taken); else why not."""
        limits = self.limited[envelope.task]
        try:
            verdict = self.broker.gate(
                queue, self.consumer_id, limits, task_id=envelope.id,
                raw=claimed.raw, timeout=self.timeout,
            )  # fmt: skip
        except TaskQueueError as exc:
            return GiveBack(envelope, f"the rate/concurrency gate failed: {exc}")
        if verdict.action == "run":
            envelope.admitted_at = verdict.admitted_at
            if limits.concurrency:
                envelope.held = self.broker.keys(queue).slots(limits.path)
            return None
        if verdict.action == "wait":
            metrics.deferred(envelope.task, verdict.reason)
            log.debug(
                "Deferred task_id=%s task=%s reason=%s for %.3fs",
                envelope.id, envelope.task, verdict.reason, verdict.seconds,
            )  # fmt: skip
        return Deferred(envelope, verdict.reason or "gone", verdict.seconds)
