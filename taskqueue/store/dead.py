"""Dead letters: listing them, and requeueing or deleting them (lua/dead.lua)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors


class DeadLetters(StoreCore):
    """The ``{Q}:dead``, ``{Q}:dead:raw`` and ``{Q}:dead:index`` keys of a queue."""

    @translate_errors
    def dead_letters(
        self, queue: str, limit: int = 100
    ) -> list[tuple[str, bytes, bytes]]:
        """Newest first: (dead-letter id, entry JSON, raw message)."""
        k = self.keys(queue)
        newest = cast(list[bytes], self.client.zrevrange(k.dead_index, 0, limit - 1))
        ids = [i.decode() for i in newest]
        if not ids:
            return []
        entries = cast(list[bytes | None], self.client.hmget(k.dead, ids))
        raws = cast(list[bytes], self.client.hmget(k.dead_raw, ids))
        return [
            (i, e, r)
            for i, e, r in zip(ids, entries, raws, strict=True)
            if e is not None
        ]

    @translate_errors
    def dead_letter_ids(self, queue: str) -> list[str]:
        ids = cast(list[bytes], self.client.zrange(self.keys(queue).dead_index, 0, -1))
        return [i.decode() for i in ids]

    @translate_errors
    def has_dead_letter(self, queue: str, dead_id: str) -> bool:
        """Whether the dead letter is still parked (not requeued or deleted)."""
        return bool(self.client.hexists(self.keys(queue).dead_raw, dead_id))

    @translate_errors
    def dead_action(self, queue: str, action: str, ids: Sequence[str]) -> int:
        """Requeue (delivery count reset) or delete dead letters; returns how many."""
        if not ids:
            return 0
        k = self.keys(queue)
        keys = [k.pending, k.dead, k.dead_index, k.dead_raw, k.redelivered]
        return int(self.scripts.call("dead", keys, [action, *ids]))

    @translate_errors
    def trim_dead(self, queue: str, *, ttl: int, most: int) -> int:
        """Drop dead letters older than ``ttl`` seconds, then the oldest beyond
        ``most`` (lua/deadcap.lua, by the time index); returns how many went."""
        k = self.keys(queue)
        keys = [k.dead, k.dead_index, k.dead_raw]
        return int(self.scripts.call("deadcap", keys, [ttl, most]))
