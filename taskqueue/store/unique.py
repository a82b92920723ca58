"""Unique enqueue: a message goes in only while no other task holds its key.

The key ``{Q}:unique:<digest>`` is set (NX, with the hold as its expiry) in
the same script that pushes the message, so twenty producers racing on one
key queue one task; the settle script deletes it when its holder finishes
(``lua/settle_limits.lua``), whatever the outcome but a retry.
"""

from __future__ import annotations

from typing import Any

from taskqueue.protocol import WAKE
from taskqueue.store.core import StoreCore
from taskqueue.store.enqueue import Outgoing
from taskqueue.store.errors import translate_errors


class UniqueEnqueuing(StoreCore):
    """Producers' side of unique tasks."""

    @translate_errors
    def enqueue_unique(
        self, queue: str, batch: Outgoing, digests: list[str], *, hold: float
    ) -> list[str]:
        """Push each message whose key is free; per message, the id holding its key."""
        k = self.keys(queue)
        argv: list[Any] = [WAKE, k.unique_prefix, max(1, round(hold * 1000))]
        for task_id, raw, digest in zip(batch.ids, batch.raws, digests, strict=True):
            argv += (task_id, batch.priority, batch.delay, raw, digest)
        keys = [k.pending, k.prio, k.scheduled, k.ready]
        holders = self.enqueue_script("enqueue_unique", keys, argv, ids=batch.ids)
        return [h.decode() if isinstance(h, bytes) else str(h) for h in holders]

    @translate_errors
    def unique_holder(self, queue: str, digest: str) -> str | None:
        """The id of the task holding a key, if any (dashboard, tests)."""
        value = self.client.get(self.keys(queue).unique_prefix + digest)
        return value.decode() if isinstance(value, bytes) else value
