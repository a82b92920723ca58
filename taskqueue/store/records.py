"""Result-store reads: the raw result hashes, as Redis holds them.

What the fields mean is ``taskqueue.results``'s business; this module only
knows where a record and a READY entry live.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors

Record = dict[bytes, bytes]


class ResultReads(StoreCore):
    """Reads of the ``{Q}:result:<id>``, ``{Q}:ready`` and ``{Q}:recent`` keys."""

    @translate_errors
    def result_record(
        self, task_id: str, queues: Iterable[str]
    ) -> tuple[Record, bytes | None] | None:
        """A task's result hash and READY entry, from the first queue that has either.

        A queued task not yet settled has its message in the ``ready`` hash
        (and, once a worker started it, a record without its message):
        ``ResultRecord.parse(record, ready)`` makes the two one record.
        """
        for queue in queues:
            k = self.keys(queue)
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(k.result(task_id))
                pipe.hget(k.ready, task_id)
                record, ready = pipe.execute()
            if record or ready is not None:
                return dict(record), ready
        return None

    @translate_errors
    def recent_results(self, queue: str, limit: int = 50) -> list[tuple[str, Record]]:
        """The latest settled tasks of a queue, newest first, with their records."""
        k = self.keys(queue)
        recent = cast(list[bytes], self.client.lrange(k.recent, 0, limit - 1))
        ids = [i.decode() for i in recent]
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hgetall(k.result(task_id))
            records = pipe.execute()
        return [(i, r) for i, r in zip(ids, records, strict=True) if r]
