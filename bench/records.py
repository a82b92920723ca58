"""A task's start and finish as its result record stores them.

A plain first attempt that returned keeps no ``finished_at`` field: the
settle (lua/settle_plain.lua) writes its span ``worker:1`` = "<consumer>
<start> <finish>" instead, and readers take the finish from it (as
lua/tasklist_read.lua and taskqueue/results.py do). Other outcomes write
``finished_at``. Nor has every such record a ``started_at`` (the claim's
stamp): one claimed and settled in the same batch has only its span, whose
start is then the start.
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


def times(client: Any, keys: list[str]) -> list[tuple[float | None, float | None]]:
    """(started_at, finish) of each record key, in one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, "started_at", "finished_at", "worker:1")
    return [
        (start(started, span), finish(at, span)) for started, at, span in pipe.execute()
    ]
