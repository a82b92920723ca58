"""The task list's merge of its queues' index slices, and where the next pages start.

Each queue's entries come in its own order (its buckets, newest first or
oldest first); the page shows them merged by finish time. The page bound is
one spot per queue (``tasklist_query.Spot``), so paging never needs an
offset and never re-reads a queue from its start.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from taskqueue.results import ResultRecord
from taskqueue.store.tasklist import IndexEntry, Position, Record
from taskqueue.web.tasklist_query import DONE, Spot

# An entry as read: its record (None: gone) and its finish time.
Read = tuple[IndexEntry, Record | None, datetime]


def merge(
    slices: list[list[IndexEntry]],
    records: Sequence[Record | None],
    *,
    per_queue: int,
    newest_first: bool,
) -> Iterator[Read]:
    """The queues' entries merged by finish time, each queue's kept in its own order.

    ``records`` are the slices' records, in order. It stops when a queue
    whose slice was full (it may hold more) runs out: past that point, that
    queue's next entries could belong before the others'.
    """
    heads: list[list[Read]] = []
    offset = 0
    for part in slices:
        mine = records[offset : offset + len(part)]
        heads.append([(e, r, _finished(e, r)) for e, r in zip(part, mine, strict=True)])
        offset += len(part)
    at = [0] * len(heads)
    pick = max if newest_first else min
    while True:
        if any(at[i] == len(part) == per_queue for i, part in enumerate(heads)):
            return
        open_ = [i for i, part in enumerate(heads) if at[i] < len(part)]
        if not open_:
            return
        best = pick(open_, key=lambda i: heads[i][at[i]][2])
        yield heads[best][at[best]]
        at[best] += 1


def spots_ahead(
    queues: Sequence[str],
    spots: Sequence[Spot],
    taken: dict[str, list[IndexEntry]],
    *,
    sizes: dict[str, int],
    per_queue: int,
) -> list[Spot]:
    """Where the next page the same way starts, per queue: past the last entry read."""
    ahead: list[Spot] = []
    for queue, spot in zip(queues, spots, strict=True):
        read = taken.get(queue, [])
        drained = queue in sizes and sizes[queue] < per_queue
        if spot == DONE or (drained and len(read) == sizes[queue]):
            ahead.append(DONE)
        else:
            ahead.append(read[-1].position if read else spot)
    return ahead


def spots_behind(
    queues: Sequence[str],
    spots: Sequence[Spot],
    taken: dict[str, list[IndexEntry]],
    *,
    forward: bool,
) -> list[Spot]:
    """Where the page the other way starts, per queue: before this page's first entry."""
    behind: list[Spot] = []
    step = 1 if forward else -1
    for queue, spot in zip(queues, spots, strict=True):
        read = taken.get(queue, [])
        if read:
            behind.append(read[0].position)
        elif spot is None:
            behind.append(DONE)  # this page started at the edge: nothing beyond
        elif spot == DONE:
            behind.append(None)  # all of the queue lies the other way
        else:  # nothing read here: from this page's own start, included
            behind.append(Position(spot.minute, spot.index + step))
    return behind


def _finished(entry: IndexEntry, raw: Record | None) -> datetime:
    """The record's finish time; a gone record's (or one that does not say)
    is its bucket's minute."""
    finished = ResultRecord.parse(raw).finished_at if raw else None
    return finished or datetime.fromtimestamp(entry.position.minute * 60.0, tz=UTC)
