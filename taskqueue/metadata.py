"""Task metadata, in the shape of django/new-features#141.

``task.using(metadata={...}).enqueue()`` sends a JSON object with the task
(the envelope's optional ``metadata`` field); inside the task,
``context.metadata`` is that dict and ``context.save_metadata()`` (or
``asave_metadata()``) publishes it while the task runs (progress, say),
into the result record's ``metadata`` field, where ``get_result`` from any
process, the JSON API and the dashboard read it. A changed dict is saved
once more when the task ends, successfully or not. Limits: a dict with str
keys, at most ``MAX_METADATA_BYTES`` of JSON, nested at most
``MAX_METADATA_DEPTH`` levels.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from asgiref.sync import sync_to_async

from taskqueue.compat import TaskContext, TaskResult
from taskqueue.exceptions import TaskQueueError
from taskqueue.protocol import Envelope, dumps_json

log = logging.getLogger("taskqueue.worker")
T = TypeVar("T")
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 8


def encode(metadata: Any) -> bytes:
    """The JSON of a metadata dict, or TypeError/ValueError saying what is wrong."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
    _check_depth(metadata, 1)
    try:
        encoded = dumps_json(metadata)
    except TypeError as exc:
        raise TypeError(f"metadata must be JSON: {exc}") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata of {len(encoded)} bytes is over {MAX_METADATA_BYTES}"
        )
    return encoded


def _check_depth(value: Any, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH}")
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list | tuple):
        for child in children:
            if isinstance(child, dict | list | tuple):
                _check_depth(child, depth + 1)


def decoded(raw: bytes | None) -> dict[str, Any] | None:
    """A stored metadata field as a dict; None if absent or not an object."""
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataTaskResult(TaskResult):  # type: ignore[type-arg]  # (not generic on Django 6)
    """A TaskResult with the task's ``metadata`` (what #141 adds to TaskResult)."""

    metadata: dict[str, Any] = field(default_factory=dict)


class Publisher:
    """Writes one running task's metadata to its result record (worker side)."""

    __slots__ = ("envelope", "saved", "store")

    def __init__(self, envelope: Envelope, store: Any) -> None:
        self.envelope = envelope
        self.store = store  # a callable(queue, task_id, json) that writes it
        self.saved = encode(envelope.metadata) if envelope.metadata else b"{}"

    def save(self, metadata: dict[str, Any]) -> None:
        """Store it now; the next attempt of a retried task starts from it."""
        encoded = encode(metadata)
        self.store(self.envelope.queue, self.envelope.id, encoded)
        self.saved = encoded
        self.envelope.metadata = orjson.loads(encoded)

    def flush(self, metadata: dict[str, Any]) -> None:
        """Save at the task's end if it changed since the last save; never raises."""
        try:
            if encode(metadata) != self.saved:
                self.save(metadata)
        except (TypeError, ValueError, TaskQueueError) as exc:
            log.warning("Task metadata not saved task_id=%s: %s", self.envelope.id, exc)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataContext(TaskContext):
    """The TaskContext a task gets here: Django's, plus #141's metadata API."""

    metadata: dict[str, Any]
    publisher: Publisher

    def save_metadata(self) -> None:
        """Publish ``metadata`` now (TypeError/ValueError over the limits)."""
        self.publisher.save(self.metadata)

    async def asave_metadata(self) -> None:
        await sync_to_async(self.publisher.save, thread_sensitive=False)(self.metadata)


def context(result: TaskResult[Any], envelope: Envelope, store: Any) -> MetadataContext:
    """The context of one run, its metadata a copy of what the message carries."""
    return MetadataContext(
        task_result=result,
        metadata=copy.deepcopy(envelope.metadata) if envelope.metadata else {},
        publisher=Publisher(envelope, store),
    )
