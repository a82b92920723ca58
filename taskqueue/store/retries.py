"""The task page's Retry links: two fields, one on each task's result record.

The old record gets ``retried_as:<new id>`` (when, as unix seconds) and the
new one ``retry_of`` (the old id), so each page links to the other without
an index. The new record is written before a worker settles it, as a
cancel's mark is (lua/cancel.lua), with the result TTL so that it never
outlives the task; the old one keeps its own TTL (HSET does not touch it),
or gets the result TTL when it is a plain success's packed record
(store/records.py), which has no key of its own for the link to join.
"""

from __future__ import annotations

import time

from taskqueue.results import Field
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors


class RetryLinks(StoreCore):
    """Writes of ``retry_of`` and ``retried_as:<id>`` (read by ResultRecord)."""

    @translate_errors
    def link_retry(
        self, old: tuple[str, str], new: tuple[str, str], *, ttl: int
    ) -> None:
        """Link ``old`` and ``new`` (each a (queue, task id)) both ways."""
        (old_queue, old_id), (new_queue, new_id) = old, new
        old_key = self.keys(old_queue).result(old_id)
        new_key = self.keys(new_queue).result(new_id)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(old_key, f"{Field.RETRIED_AS}{new_id}", f"{time.time():.6f}")
            pipe.ttl(old_key)
            pipe.hset(new_key, Field.RETRY_OF, old_id)
            pipe.expire(new_key, ttl)
            old_ttl = pipe.execute()[1]
        if old_ttl == -1:
            self.client.expire(old_key, ttl)
