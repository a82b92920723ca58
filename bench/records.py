"""A task's start and finish as its result record stores them.

A plain first attempt that returned keeps no ``finished_at`` field: the
settle (lua/settle_plain.lua) writes its span ``worker:1`` = "<consumer>
<start> <finish>" instead, and readers take the finish from it (as
lua/tasklist_read.lua and taskqueue/results.py do). Other outcomes write
``finished_at``. Nor has every such record a ``started_at`` (the claim's
stamp): one claimed and settled in the same batch has only its span, whose
start is then the start. A plain success's record is a field of a results
bucket, not a key (taskqueue/store/records.py): read through the broker.
"""

from __future__ import annotations

from typing import Any


def start(started_at: bytes | None, span: bytes | None) -> float | None:
    """The start time from a record's ``started_at`` and ``worker:1`` fields."""
    if started_at:
        return float(started_at)
    if span:
        return float(span.split(b" ")[1])
    return None


def finish(finished_at: bytes | None, span: bytes | None) -> float | None:
    """The finish time from a record's ``finished_at`` and ``worker:1`` fields."""
    if finished_at:
        return float(finished_at)
    if span:
        return float(span.rsplit(b" ", 1)[-1])
    return None


FIELDS = (b"started_at", b"finished_at", b"worker:1")


def times(
    broker: Any, ids: list[str], queue: str = "default"
) -> list[tuple[float | None, float | None]]:
    """(started_at, finish) of each task's record, in one script call."""
    out = []
    for record, _ in _stored(broker, queue, ids, fields=[f.decode() for f in FIELDS]):
        started, at, span = (record.get(f) for f in FIELDS)
        out.append((start(started, span), finish(at, span)))
    return out


def status(broker: Any, task_id: str, queue: str = "default") -> bytes | None:
    """The stored status of one task (None if it has no record yet)."""
    [(record, _)] = _stored(broker, queue, [task_id], fields=["status"])
    return record.get(b"status")


def _stored(broker: Any, queue: str, ids: list[str], *, fields: list[str]) -> list[Any]:
    """``broker.stored``; on a checkout from before the results buckets (no
    ``stored``: ``bench/task_options.py --root`` on an older one), each record
    is a key of its own, read field by field."""
    if hasattr(broker, "stored"):
        return list(broker.stored(queue, ids, fields))
    k = broker.keys(queue)
    out = []
    for task_id in ids:
        values = broker.client.hmget(k.result(task_id), fields)
        record = {f.encode(): v for f, v in zip(fields, values, strict=True) if v}
        out.append((record, None))
    return out
