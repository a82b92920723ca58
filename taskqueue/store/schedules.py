"""Schedules as Redis holds them: firing a tick, the state hash, pause and resume.

Each schedule has one state hash in its queue's slot (``{Q}:schedule:<name>``:
last tick, last task id, paused, the fired/skipped counters) and a marker
per fired tick (``…:tick:<tick>``, expiring). Firing is ``fire.lua``: the
claim of the tick and the enqueue of its run are one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from taskqueue.protocol import WAKE
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors

COUNTERS = ("fired", "skipped:overlap", "skipped:paused", "skipped:missed")


@dataclass(frozen=True, slots=True)
class Fired:
    """What fire.lua answered (see its reply contract)."""

    outcome: str  # fired paused overlap missed done early
    task_id: str
    server_now: float
    gap_from: float | None  # the last tick before a gap of missed ticks
    catch_up_id: str


@dataclass(frozen=True, slots=True)
class Shot:
    """One fire.lua call's arguments besides the schedule's keys."""

    name: str
    queue: str
    tick: str
    prev: str
    grace: float
    catch_up: bool
    overlap: bool
    ttl: int
    priority: int
    task_id: str
    raw: bytes
    catch_up_id: str = ""
    catch_up_raw: bytes = b""
    manual: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """A schedule's state hash, read field by field (never raises)."""

    last_tick: float | None
    last_id: str | None
    last_fired_at: float | None
    paused: bool
    counts: dict[str, int]

    @classmethod
    def parse(cls, raw: dict[bytes, bytes]) -> ScheduleState:
        text = {
            k.decode(errors="replace"): v.decode(errors="replace")
            for k, v in raw.items()
        }
        return cls(
            last_tick=_number(text.get("last_tick")),
            last_id=text.get("last_id") or None,
            last_fired_at=_number(text.get("last_fired_at")),
            paused=text.get("paused") == "1",
            counts={name: int(_number(text.get(name)) or 0) for name in COUNTERS},
        )


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ScheduleStore(StoreCore):
    """The Redis side of periodic tasks."""

    @translate_errors
    def fire(self, shot: Shot) -> Fired:
        k = self.keys(shot.queue)
        state = k.schedule(shot.name)
        marker = state if shot.manual else k.schedule_tick(shot.name, shot.tick)
        argv: list[Any] = [
            "run" if shot.manual else "tick", shot.tick, shot.prev, shot.grace,
            int(shot.catch_up), int(shot.overlap), shot.ttl, k.result_prefix, WAKE,
            shot.priority, shot.task_id, shot.raw, shot.catch_up_id, shot.catch_up_raw,
        ]  # fmt: skip
        keys = [state, marker, k.pending, k.prio, k.ready, k.results_index]
        outcome, task_id, now, gap, catch = (
            item.decode() if isinstance(item, bytes) else str(item)
            for item in self.enqueue_script("fire", keys, argv, ids=[shot.task_id])
        )
        return Fired(outcome, task_id, float(now), _number(gap or None), catch)

    @translate_errors
    def server_time(self) -> float:
        seconds, micros = self.client.time()
        return seconds + micros / 1e6

    @translate_errors
    def schedule_states(
        self, entries: Sequence[tuple[str, str]]
    ) -> list[ScheduleState]:
        """The state of each (name, queue)."""
        with self.client.pipeline(transaction=False) as pipe:
            for name, queue in entries:
                pipe.hgetall(self.keys(queue).schedule(name))
            rows = pipe.execute()
        return [ScheduleState.parse(row) for row in rows]

    @translate_errors
    def set_schedule_paused(self, name: str, queue: str, paused: bool) -> None:
        """Persisted: every worker's next fire of it reads it."""
        key = self.keys(queue).schedule(name)
        if paused:
            self.client.hset(key, "paused", "1")
        else:
            self.client.hdel(key, "paused")

    @translate_errors
    def count_missed(self, name: str, queue: str, count: int) -> None:
        """Ticks that went by with no worker (one fire.lua found the gap)."""
        self.client.hincrby(self.keys(queue).schedule(name), "skipped:missed", count)
