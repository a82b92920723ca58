"""Statistics: queue depths, per-minute counters and the fleet's task totals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from taskqueue.keys import stats_key, totals_key
from taskqueue.protocol import WAKE
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors

MINUTE_TTL = 2 * 3600  # seconds a per-minute counter hash is kept


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    pending: int
    in_flight: int
    scheduled: int
    dead: int
    paused: bool = False  # queues pause NAME (taskqueue/store/control.py)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pending": self.pending,
            "in_flight": self.in_flight,
            "scheduled": self.scheduled,
            "dead": self.dead,
            "paused": self.paused,
        }


class Statistics(StoreCore):
    """Counts read from a queue's keys, and the counters the heartbeat adds to."""

    @translate_errors
    def stats(self, queue: str) -> QueueStats:
        k = self.keys(queue)
        consumers = cast(list[bytes], self.client.zrange(k.consumers, 0, -1))
        with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(k.pending)
            pipe.zcard(k.prio)
            pipe.zcard(k.scheduled)
            pipe.zcard(k.dead_index)
            pipe.lrange(k.pending, 0, 0)
            pipe.exists(k.paused)
            for consumer in consumers:
                pipe.llen(k.inflight(consumer.decode()))
            pending, prio, scheduled, dead, head, paused, *inflight = pipe.execute()
        if head == [WAKE]:
            pending -= 1
        return QueueStats(
            queue, pending + prio, sum(inflight), scheduled, dead, paused=bool(paused)
        )

    @translate_errors
    def count_minute(self, minute: int, counts: dict[str, int]) -> None:
        key = stats_key(minute, self.prefix)
        with self.client.pipeline(transaction=False) as pipe:
            for field, n in counts.items():
                pipe.hincrby(key, field, n)
            pipe.expire(key, MINUTE_TTL)
            pipe.execute()

    @translate_errors
    def minute_counts(self, minutes: Sequence[int]) -> list[dict[str, int]]:
        with self.client.pipeline(transaction=False) as pipe:
            for minute in minutes:
                pipe.hgetall(stats_key(minute, self.prefix))
            rows = pipe.execute()
        return [{k.decode(): int(v) for k, v in row.items()} for row in rows]

    @translate_errors
    def add_task_totals(self, counts: dict[str, int]) -> None:
        """Add to the fleet-wide task counts (metrics.FleetCollector reads them)."""
        with self.client.pipeline(transaction=False) as pipe:
            for field, n in counts.items():
                pipe.hincrby(totals_key(self.prefix), field, n)
            pipe.execute()

    @translate_errors
    def task_totals(self) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(totals_key(self.prefix)))
        return {k.decode(): int(v) for k, v in raw.items()}
