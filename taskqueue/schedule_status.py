"""What each schedule looks like now: the rows ``manage.py schedules``, the
dashboard's Schedules section and the metrics show, and finding one by name.

Read from Redis (state hash, last run's record) with the server's clock;
never raises past here for anything Redis holds (a damaged state field
reads as absent). BrokerUnavailable goes to the caller, which says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskqueue.firing import Entry, configured
from taskqueue.results import ResultRecord
from taskqueue.schedules import queue_of
from taskqueue.store.schedules import ScheduleState


class UnknownSchedule(LookupError):
    """No schedule of that name (the message lists the known ones)."""


def find(backend: Any, name: str) -> Entry:
    entries = configured(backend)
    for entry in entries:
        if entry[0].name == name:
            return entry
    known = ", ".join(s.name for s, _ in entries) or "none configured"
    raise UnknownSchedule(f"unknown schedule {name!r} (known: {known})")


def states(backend: Any, entries: tuple[Entry, ...]) -> list[ScheduleState]:
    return list(
        backend.broker.schedule_states([(s.name, queue_of(s, t)) for s, t in entries])
    )


def rows(backend: Any) -> list[dict[str, Any]]:
    """One JSON-ready row per schedule, in declaration order."""
    entries = configured(backend)
    if not entries:
        return []
    broker = backend.broker
    now = broker.server_time()
    result: list[dict[str, Any]] = []
    for (schedule, task), state in zip(entries, states(backend, entries), strict=True):
        queue = queue_of(schedule, task)
        upcoming = schedule.after(now)
        result.append({
            "name": schedule.name,
            "task": schedule.task,
            "rule": schedule.rule,
            "timezone": schedule.timezone,
            "queue": queue,
            "next_run": _iso(upcoming + schedule.delay(upcoming)),
            "last_run": _last_run(broker, state, queue),
            "paused": state.paused,
            "overlap": schedule.overlap,
            "catch_up": schedule.catch_up,
            "fired": state.counts["fired"],
            "skipped": {
                reason: state.counts[f"skipped:{reason}"]
                for reason in ("overlap", "paused", "missed")
            },
        })  # fmt: skip
    return result


def _last_run(broker: Any, state: ScheduleState, queue: str) -> dict[str, Any] | None:
    if state.last_id is None:
        return None
    stored = broker.result_record(state.last_id, [queue])
    status = None
    if stored is not None:
        parsed = ResultRecord.parse(*stored).status
        status = parsed.value if parsed is not None else None
    return {
        "task_id": state.last_id,
        "status": status or "EXPIRED",
        "fired_at": _iso(state.last_fired_at),
    }


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    try:
        return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None
