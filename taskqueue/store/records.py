"""Result-store reads: the raw result hashes, as Redis holds them.

What the fields mean is ``taskqueue.results``'s business; this module only
knows where a record lives and how a READY task's record is made whole.
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
    def result_record(self, task_id: str, queues: Iterable[str]) -> Record | None:
        """The raw result hash of a task, looked up in each queue's slot.

        A queued task not yet settled has its message in the ``ready`` hash
        and, once a worker started it, a record without ``msg``: merged, that
        is the same record a settled task has.
        """
        for queue in queues:
            k = self.keys(queue)
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(k.result(task_id))
                pipe.hget(k.ready, task_id)
                record, ready = pipe.execute()
            if ready is not None and b"msg" not in record:
                return {b"status": b"READY", **record, b"msg": ready}
            if record:
                return dict(record)
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
