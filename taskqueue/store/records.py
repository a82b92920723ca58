"""Result-store reads: the raw result records, as Redis holds them.

What the fields mean is ``taskqueue.results``'s business; this module only
knows where a record and a READY entry live. A record is the hash
``{Q}:result:<id>``, or, for a plain success (a first attempt that ran and
returned: nearly every task), one field of a shared results bucket
(``lua/settle_plain.lua``), packed as ``"<minute>\\n<worker:1>\\n<return>\\n<msg>"``
and unpacked here into the fields such a hash would hold. A key the claim
marked RUNNING, or a running task's metadata, stays beside the packed record;
the two read as one, the packed fields over the key's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors

Record = dict[bytes, bytes]
# The fields of a packed plain record, in its order; its status is implied.
PACKED_FIELDS = (b"bucket", b"worker:1", b"return", b"msg")
SUCCESSFUL = b"SUCCESSFUL"


def unpack_plain(packed: bytes) -> Record:
    """The fields of a packed plain record (an unreadable one gives what it has)."""
    parts = packed.split(b"\n", len(PACKED_FIELDS) - 1)
    return {b"status": SUCCESSFUL, **dict(zip(PACKED_FIELDS, parts, strict=False))}


def _merged(fields: Sequence[bytes], packed: bytes | None) -> Record:
    record = dict(zip(fields[0::2], fields[1::2], strict=True))
    if packed is not None:
        record.update(unpack_plain(packed))
    return record


class ResultReads(StoreCore):
    """Reads of the ``{Q}:result:<id>`` keys, the results buckets and ``{Q}:ready``."""

    @translate_errors
    def stored(
        self, queue: str, task_ids: Sequence[str], fields: Sequence[str] = ()
    ) -> list[tuple[Record, bytes | None]]:
        """Each task's record (only ``fields`` of it, if given) and READY entry.

        One script call for them all (lua/record.lua): a record is found
        wherever it lives.
        """
        if not task_ids:
            return []
        k = self.keys(queue)
        reply = cast(list[object], self.scripts.call(
            "record", [k.ready, k.results_index],
            [k.result_prefix, len(fields), *fields, *task_ids],
        ))  # fmt: skip
        out = []
        for i in range(0, len(reply), 3):
            fields_, ready, packed = reply[i : i + 3]
            out.append((
                _merged(cast(list[bytes], fields_), cast(bytes | None, packed)),
                cast(bytes | None, ready),
            ))  # fmt: skip
        return out

    @translate_errors
    def result_record(
        self, task_id: str, queues: Iterable[str]
    ) -> tuple[Record, bytes | None] | None:
        """A task's result record and READY entry, from the first queue that has either.

        A queued task not yet settled has its message in the ``ready`` hash
        (and, once a worker started it, a record without its message):
        ``ResultRecord.parse(record, ready)`` makes the two one record.
        """
        for queue in queues:
            [(record, ready)] = self.stored(queue, [task_id])
            if record or ready is not None:
                return record, ready
        return None
