"""The task list's reads: the finished index (``{Q}:finished``) and the records behind it.

The settle script adds every finished task to its queue's index, scored by
the server clock, and trims what expired with its result
(``lua/settle_index.lua``). A page reads a bounded slice of each queue's
index (one ZRANGE per queue) and then a bounded number of records (one HMGET
each), in two round trips: its cost does not grow with what the retention
holds. An index entry whose record expired (or was deleted) reads as gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from taskqueue.results import Field
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors

Record = dict[bytes, bytes]
# What a list row needs of a record: never the return value or the tracebacks.
ROW_FIELDS = (
    Field.MSG, Field.STATUS, Field.STARTED_AT, Field.LAST_ATTEMPTED_AT,
    Field.FINISHED_AT,
)  # fmt: skip
_ROW_KEYS = tuple(name.encode() for name in ROW_FIELDS)


@dataclass(frozen=True, slots=True, order=True)
class IndexEntry:
    """One finished task in a queue's index; ordered by (score, id) as Redis orders it."""

    score: float  # the finish time on the server clock (unix seconds)
    task_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class Bound:
    """Where a page starts: the entries strictly before (newest first) or
    after (oldest first) ``(score, task_id)``, the last entry a page read."""

    score: float
    task_id: str = ""


class TaskIndexReads(StoreCore):
    """Reads of the ``{Q}:finished`` index and of the row fields of its records."""

    @translate_errors
    def index_slice(
        self,
        queues: Sequence[str],
        *,
        count: int,
        newest_first: bool = True,
        start: Bound | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[IndexEntry]:
        """Up to ``count`` entries over all ``queues``, in page order, past ``start``.

        One ZRANGE per queue, in one pipeline. Entries that share ``start``'s
        score are fetched again and dropped by id, so equal scores (rare: a
        batch is spread by 1 µs) are neither lost nor shown twice.
        """
        low = "-inf" if since is None else repr(since)
        high = "+inf" if until is None else repr(until)
        if start is not None:
            if newest_first:
                high = (
                    repr(min(start.score, until))
                    if until is not None
                    else repr(start.score)
                )
            else:
                low = (
                    repr(max(start.score, since))
                    if since is not None
                    else repr(start.score)
                )
        slack = 0 if start is None else TIE_SLACK
        with self.client.pipeline(transaction=False) as pipe:
            for queue in queues:
                key = self.keys(queue).finished
                if newest_first:
                    pipe.zrevrangebyscore(
                        key, high, low, 0, count + slack, withscores=True
                    )
                else:
                    pipe.zrangebyscore(
                        key, low, high, 0, count + slack, withscores=True
                    )
            replies = cast(list[list[tuple[bytes, float]]], pipe.execute())
        entries = [
            IndexEntry(float(score), member.decode(errors="replace"), queue)
            for queue, reply in zip(queues, replies, strict=True)
            for member, score in reply
        ]
        if start is not None:
            entries = [e for e in entries if _past(e, start, newest_first)]
        entries.sort(reverse=newest_first)
        return entries[:count]

    @translate_errors
    def row_records(self, entries: Sequence[IndexEntry]) -> list[Record | None]:
        """The row fields of each entry's record, None where it is gone (expired)."""
        with self.client.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.hmget(self.keys(entry.queue).result(entry.task_id), ROW_FIELDS)
            replies = cast(list[list[bytes | None]], pipe.execute())
        return [_record(values) for values in replies]

    @translate_errors
    def find_finished(self, task_id: str, queues: Sequence[str]) -> list[IndexEntry]:
        """The index entries of one task id (exact), in any of ``queues``: one ZSCORE each."""
        with self.client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.zscore(self.keys(queue).finished, task_id)
            scores = cast(list[float | None], pipe.execute())
        return [
            IndexEntry(float(score), task_id, queue)
            for queue, score in zip(queues, scores, strict=True)
            if score is not None
        ]


# Entries with the start's own score fetched again per queue, beyond the page.
TIE_SLACK = 8


def _past(entry: IndexEntry, start: Bound, newest_first: bool) -> bool:
    if entry.score != start.score:
        return entry.score < start.score if newest_first else entry.score > start.score
    return (
        entry.task_id < start.task_id if newest_first else entry.task_id > start.task_id
    )


def _record(values: Sequence[bytes | None]) -> Record | None:
    record = {k: v for k, v in zip(_ROW_KEYS, values, strict=True) if v is not None}
    return record or None
