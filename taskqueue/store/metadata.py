"""Task metadata in the result record: the write a running task makes (#141)."""

from __future__ import annotations

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors


class MetadataWrites(StoreCore):
    """``metadata.lua``: the record's ``metadata`` field, with the result ttl."""

    @translate_errors
    def save_metadata(
        self, queue: str, task_id: str, metadata_json: bytes, *, ttl: int
    ) -> None:
        key = self.keys(queue).result(task_id)
        self.scripts.call("metadata", [key], [metadata_json, ttl])
