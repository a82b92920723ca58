"""Paged reads of a queue's waiting messages: pending, scheduled, dead letters.

For the admin's message pages (taskqueue/web/messages.py). Each page costs
a fixed number of commands whatever the queue holds: one pipeline of counts,
then one of LRANGE/ZRANGE calls by rank (at most three), never a scan.

Pending messages are listed in the order the next claims take them
(lua/claim_take.lua): positive priorities first (the ``{Q}:prio`` zset below
the score of priority 0, best first), then the list from its head, then the
rest of the zset (negative priorities). Wake tokens in the list keep their
place in that order (they are skipped when shown) so offsets stay stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors

# lua/envelope.lua: prio scores below this belong to positive priorities.
PRIORITY_ZERO = "(1000000000000000"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing: its rows and how many the listing holds in all."""

    total: int
    rows: list[T]


def _spans(lengths: list[int], offset: int, limit: int) -> list[tuple[int, int, int]]:
    """(segment, first, last) index ranges of a page over concatenated segments."""
    spans, start = [], 0
    for segment, length in enumerate(lengths):
        low, high = max(offset, start), min(offset + limit, start + length)
        if low < high:
            spans.append((segment, low - start, high - start - 1))
        start += length
    return spans


class MessageReads(StoreCore):
    """Paged reads of ``Q``, ``{Q}:prio``, ``{Q}:scheduled`` and the dead letters."""

    @translate_errors
    def pending_page(self, queue: str, offset: int, limit: int) -> Page[bytes]:
        """Pending messages (raw), in claim order, from ``offset``."""
        k = self.keys(queue)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcount(k.prio, "-inf", PRIORITY_ZERO)
            pipe.llen(k.pending)
            pipe.zcard(k.prio)
            high, listed, prio = (int(n) for n in pipe.execute())
        spans = _spans([high, listed, prio - high], offset, limit)
        if not spans:
            return Page(prio + listed, [])
        with self.client.pipeline(transaction=False) as pipe:
            for segment, first, last in spans:
                if segment == 1:
                    pipe.lrange(k.pending, first, last)
                else:
                    base = 0 if segment == 0 else high
                    pipe.zrange(k.prio, base + first, base + last)
            parts = cast(list[list[bytes]], pipe.execute())
        return Page(prio + listed, [raw for part in parts for raw in part])

    @translate_errors
    def scheduled_page(
        self, queue: str, offset: int, limit: int
    ) -> Page[tuple[bytes, float]]:
        """Deferred messages (raw, due time), next due first, from ``offset``."""
        k = self.keys(queue)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(k.scheduled)
            pipe.zrange(k.scheduled, offset, offset + limit - 1, withscores=True)
            total, rows = pipe.execute()
        return Page(int(total), [(raw, float(due)) for raw, due in rows])

    @translate_errors
    def dead_page(
        self, queue: str, offset: int, limit: int
    ) -> Page[tuple[str, bytes | None, bytes | None]]:
        """Dead letters (id, entry JSON, raw bytes), newest first, from ``offset``."""
        k = self.keys(queue)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zcard(k.dead_index)
            pipe.zrevrange(k.dead_index, offset, offset + limit - 1)
            total, newest = pipe.execute()
        ids = [i.decode(errors="replace") for i in newest]
        if not ids:
            return Page(int(total), [])
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hmget(k.dead, newest)
            pipe.hmget(k.dead_raw, newest)
            entries, raws = pipe.execute()
        return Page(int(total), list(zip(ids, entries, raws, strict=True)))
