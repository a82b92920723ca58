"""The gate of limited tasks: rate limits and concurrency caps, fleet-wide.

Only a task with a ``rate_limit`` or ``concurrency`` option goes through it
(``taskqueue.worker.gate`` asks, one script call per start); every other
message never meets it. See ``lua/gate.lua`` for the algorithm (GCRA for
rates, heartbeat-tied slots for caps).
"""

from __future__ import annotations

from dataclasses import dataclass

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors
from taskqueue.taskoptions import TaskLimits


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate said: run now, or wait ``seconds`` (for ``reason``), or gone."""

    action: str  # run | wait | gone
    reason: str = ""
    seconds: float = 0.0
    admitted_at: float = 0.0  # run: the server's time of the admission


@dataclass(frozen=True, slots=True)
class Usage:
    """A limited task's current use, for the dashboard."""

    running: int  # slots held (may include a dead worker's, until it is seen)
    waiting: int  # messages deferred for a slot
    booked_ahead: float  # seconds until the rate limit has a free start


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Gating(StoreCore):
    """The gate script, and the usage it leaves in Redis."""

    @translate_errors
    def gate(
        self, queue: str, consumer: str, limits: TaskLimits, *,
        task_id: str, raw: bytes, timeout: float,
    ) -> Verdict:  # fmt: skip
        """Start the message now (taking its slot) or defer it; atomically."""
        k = self.keys(queue)
        path = limits.path
        keys = [
            k.inflight(consumer), k.scheduled, k.consumers, k.slots(path),
            k.slots_waiting(path), k.rate(path),
        ]  # fmt: skip
        argv = [
            consumer, task_id, raw, limits.concurrency, repr(limits.interval),
            repr(timeout), k.result_prefix,
        ]  # fmt: skip
        reply = [_text(part).lower() for part in self.scripts.run("gate", keys, argv)]
        if reply[0] == "wait":
            return Verdict("wait", reply[1], float(reply[2]))
        if reply[0] == "run":
            return Verdict("run", admitted_at=float(reply[1]))
        return Verdict(reply[0])

    @translate_errors
    def usage(self, queue: str, path: str) -> Usage:
        """Slots held, messages waiting and rate backlog of one task."""
        k = self.keys(queue)
        pipe = self.client.pipeline(transaction=False)
        pipe.hlen(k.slots(path))
        pipe.zcard(k.slots_waiting(path))
        pipe.hget(k.rate(path), "TAT")
        pipe.time()
        running, waiting, tat, (secs, micros) = pipe.execute()
        now = secs + micros / 1e6
        ahead = max(0.0, float(tat) - now) if tat else 0.0
        return Usage(int(running), int(waiting), ahead)
