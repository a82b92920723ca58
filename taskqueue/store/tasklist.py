"""The task list's reads: the finished index's minute buckets and the records behind them.

The settle script appends every finished task's id to its queue's bucket of
the finish minute (server clock), ``{Q}:finished:<minute>``, a list that
expires after every record it names, and keeps the minutes that have a
bucket in ``{Q}:finished:minutes`` (``lua/settle_index.lua``). A page reads a
bounded slice of each queue's buckets (``lua/tasklist_read.lua``, one
EVALSHA per queue) and then a bounded number of records (one EVALSHA per
queue, lua/record.lua): its cost does not grow with what the retention holds.

An entry is a place in a queue's buckets, ``Position(minute, index)``, the
index counted from the bucket's head (RPUSH appends, so it never moves). A
task settled twice (redelivered) is in two buckets, or twice in one: an
entry counts only when its record's ``bucket`` field (the minute of its last
settle) is the bucket it was read from, and a page shows an id once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from taskqueue.results import Field
from taskqueue.store.errors import translate_errors
from taskqueue.store.records import ResultReads

Record = dict[bytes, bytes]
BUCKET = Field.BUCKET  # the record field naming the minute whose bucket lists it
# What a list row needs of a record: never the return value or the tracebacks.
# The first attempt's span (worker:1) is where a first attempt that returned
# keeps its start (results.py).
ROW_FIELDS = (
    Field.MSG, Field.STATUS, Field.STARTED_AT, Field.LAST_ATTEMPTED_AT,
    Field.FINISHED_AT, BUCKET, f"{Field.WORKER_OF}1",
)  # fmt: skip
_ROW_KEYS = tuple(name.encode() for name in ROW_FIELDS)


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in one queue's buckets: the minute, and the index in its list."""

    minute: int
    index: int


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One finished task as a queue's index lists it."""

    position: Position
    task_id: str
    queue: str


class TaskIndexReads(ResultReads):
    """Reads of the ``{Q}:finished:*`` buckets and of the row fields of their records."""

    @translate_errors
    def index_slice(
        self,
        queue: str,
        *,
        count: int,
        newest_first: bool = True,
        start: Position | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[IndexEntry]:
        """Up to ``count`` entries of one queue, in page order, strictly past ``start``."""
        return self.index_slices(
            [(queue, start)], count=count, newest_first=newest_first,
            since=since, until=until,
        )[0]  # fmt: skip

    @translate_errors
    def index_slices(
        self,
        starts: Sequence[tuple[str, Position | None]],
        *,
        count: int,
        newest_first: bool = True,
        since: float | None = None,
        until: float | None = None,
    ) -> list[list[IndexEntry]]:
        """Per (queue, start): up to ``count`` entries past start, in one pipeline."""
        order = "desc" if newest_first else "asc"
        bounds = ["" if t is None else repr(t) for t in (since, until)]
        replies = []
        for queue, start in starts:  # one EVALSHA each (a Cluster: each its slot)
            k = self.keys(queue)
            minute, index = ("", 0) if start is None else (start.minute, start.index)
            reply = self.scripts.call(
                "tasklist_read", [k.finished_minutes, k.finished_prefix, k.results_index],
                [order, minute, index, count, k.result_prefix, *bounds],
            )  # fmt: skip
            replies.append(cast(list[bytes | int], reply))
        return [
            [
                IndexEntry(
                    Position(int(reply[i]), int(reply[i + 1])),
                    bytes(cast(bytes, reply[i + 2])).decode(errors="replace"),
                    queue,
                )
                for i in range(0, len(reply), 3)
            ]
            for (queue, _), reply in zip(starts, replies, strict=True)
        ]

    @translate_errors
    def recent_results(self, queue: str, limit: int = 50) -> list[tuple[str, Record]]:
        """The latest settled tasks of a queue with their records, each once.

        The newest ``limit`` entries of the finished index (every finished
        task, plain successes too), then the newest ``limit`` of ``{Q}:recent``
        (the settles that were not plain successes: a retry waiting is there
        only); not sorted across the two (a caller sorts by settle time).
        """
        ids = [entry.task_id for entry in self.index_slice(queue, count=limit)]
        recent = cast(
            list[bytes], self.client.lrange(self.keys(queue).recent, 0, limit - 1)
        )
        ids = list(dict.fromkeys([*ids, *(i.decode(errors="replace") for i in recent)]))
        records = self.stored(queue, ids)
        return [(i, r) for i, (r, _) in zip(ids, records, strict=True) if r]

    @translate_errors
    def row_records(self, entries: Sequence[IndexEntry]) -> list[Record | None]:
        """The row fields of each entry's record, None where it is gone (expired)."""
        by_queue: dict[str, list[int]] = {}
        for i, entry in enumerate(entries):
            by_queue.setdefault(entry.queue, []).append(i)
        rows: list[Record | None] = [None] * len(entries)
        for queue, places in by_queue.items():
            ids = [entries[i].task_id for i in places]
            for i, (record, _) in zip(
                places, self.stored(queue, ids, ROW_FIELDS), strict=True
            ):
                rows[i] = _row(record)
        return rows

    @translate_errors
    def find_finished(
        self, task_id: str, queues: Sequence[str]
    ) -> list[tuple[IndexEntry, Record]]:
        """One task id (exact) in any of ``queues``: one read of its record each.

        A record with a ``bucket`` field is listed in that bucket (the index
        never outlives the record, and the record names its bucket).
        """
        found = []
        for queue in queues:
            [(stored, _)] = self.stored(queue, [task_id], ROW_FIELDS)
            record = _row(stored)
            minute = _int(record.get(BUCKET.encode())) if record else None
            if record is not None and minute is not None:
                found.append((IndexEntry(Position(minute, 0), task_id, queue), record))
        return found


def listed_here(entry: IndexEntry, record: Record) -> bool:
    """Whether the record was last settled into the bucket the entry was read from."""
    return _int(record.get(BUCKET.encode())) == entry.position.minute


def _int(value: bytes | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _row(stored: Record) -> Record | None:
    record = {k: v for k, v in stored.items() if k in _ROW_KEYS}
    return record or None
