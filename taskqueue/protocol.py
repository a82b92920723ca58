"""The wire format: a versioned JSON envelope, plus the original system's forms.

See docs/protocol.md for the field table (a test keeps the two in step).
Encoding always starts with ``{"v":1,"id":"<id>","p":<priority>,`` so the Lua
scripts can read the id and priority without a JSON parser.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

VERSION = 1
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,63}")
WAKE = b'{"v":1,"wake":1}'
# claim.lua wraps a legacy message in this form so that it has a task id from
# its first claim on: {"v":1,"id":"<id>","p":0,"legacy":"<the message>",...}.
LEGACY_FIELD = "legacy"
MAX_ATTEMPT = 1000  # conf refuses MAX_RETRIES/MAX_DELIVERIES that could reach it
MAX_DEPTH = 64  # JSON nesting; orjson itself writes at most 254 levels
MAX_TIMESTAMP = 253402300799.0  # 9999-12-31: the last second a datetime can show
CLOCK_SKEW = 366 * 86400.0  # how far ahead of us a producer's clock may be
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what orjson can write

# name -> (type, required). The order is the encoding order after v/id/p.
FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "v": (int, True),
    "id": (str, True),
    "p": (int, True),
    "task": (str, True),
    "args": (list, True),
    "kwargs": (dict, True),
    "queue": (str, True),
    "backend": (str, True),
    "enqueued_at": ((int, float), True),
    "attempt": (int, True),
    "run_after": ((int, float, type(None)), False),
    "trace": (dict, False),
    "workflow": (str, False),
    "metadata": (dict, False),
    "unique": (str, False),
    "schedule": (dict, False),
    "by": (str, False),
}
UNIQUE_RE = re.compile(
    r"[0-9a-f]{40}"
)  # a unique task's key digest (taskqueue/unique.py)
# The W3C trace context a traced enqueue writes (taskqueue/tracing.py): the
# only keys a "trace" field may hold, with the most characters each may have.
TRACE_LIMITS = {"traceparent": 128, "tracestate": 512}
# What a run fired by a schedule carries (taskqueue/schedules.py): the
# schedule's name and its tick (unix seconds), and "manual": true for a run
# fired by `schedules run`, "catch_up": true for the one run of missed ticks.
SCHEDULE_NAME_MAX = 200


@dataclass(slots=True)
class Envelope:
    """One task message as the worker sees it."""

    id: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    backend: str = "default"
    priority: int = 0
    enqueued_at: float = 0.0
    attempt: int = 1
    run_after: float | None = None
    trace: dict[str, str] | None = None
    workflow: str | None = None  # the id of the workflow this task is a step of
    metadata: dict[str, Any] | None = None  # taskqueue/metadata.py (#141)
    unique: str | None = None  # the digest of a unique task's key
    schedule: dict[str, Any] | None = None
    by: str | None = None  # the pk of the user it was enqueued for (enqueuer.py)
    legacy: bool = field(default=False, compare=False)
    # The concurrency slot key this run holds (set by the worker's gate, not sent).
    held: str = field(default="", compare=False)
    # When the gate admitted this run, on the server's clock (0: not gated).
    admitted_at: float = field(default=0.0, compare=False)

    def encode(self) -> bytes:
        """The canonical bytes of this envelope (JSON, no NaN, no non-str keys)."""
        body = {
            "task": self.task,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue": self.queue,
            "backend": self.backend,
            "enqueued_at": self.enqueued_at,
            "attempt": self.attempt,
        }
        if self.run_after is not None:
            body["run_after"] = self.run_after
        if self.trace is not None:
            body["trace"] = self.trace
        if self.workflow is not None:
            body["workflow"] = self.workflow
        if self.metadata is not None:
            body["metadata"] = self.metadata
        if self.unique is not None:
            body["unique"] = self.unique
        if self.schedule is not None:
            body["schedule"] = self.schedule
        if self.by is not None:
            body["by"] = self.by
        rest = orjson.dumps(body)
        head = '{"v":%d,"id":%s,"p":%d,' % (  # noqa: UP031 (bytes-exact prefix)
            VERSION,
            orjson.dumps(self.id).decode(),
            self.priority,
        )
        return head.encode() + rest[1:]

    def next_attempt(self) -> Envelope:
        return Envelope(
            id=self.id,
            task=self.task,
            args=self.args,
            kwargs=self.kwargs,
            queue=self.queue,
            backend=self.backend,
            priority=self.priority,
            enqueued_at=self.enqueued_at,
            attempt=self.attempt + 1,
            trace=self.trace,
            workflow=self.workflow,
            metadata=self.metadata,
            unique=self.unique,
            schedule=self.schedule,
            by=self.by,
        )


class CallEncoder:
    """Envelopes for many calls of one task, enqueued at one moment.

    The bytes are exactly ``Envelope(...).encode()``'s; everything but the
    id and the arguments is serialised once, which is what lets a bulk
    enqueue cost little more than the JSON of its arguments.
    """

    __slots__ = ("_after_id", "_open_id", "_tail")

    def __init__(self, *, task: str, queue: str, backend: str, priority: int) -> None:
        self._open_id = b'{"v":%d,"id":"' % VERSION
        self._after_id = b'","p":%d,"task":%s,"args":' % (priority, orjson.dumps(task))
        fixed = orjson.dumps({"queue": queue, "backend": backend})
        self._tail = b',"kwargs":', b"," + fixed[1:-1] + b',"enqueued_at":'

    def encode(
        self,
        task_id: str,
        args: list[Any],
        kwargs: dict[str, Any],
        *,
        enqueued_at: bytes,
    ) -> bytes:
        """The message; TypeError if the arguments are not JSON.

        ``task_id`` is plain [0-9a-f]; ``enqueued_at`` is ``orjson.dumps(time)``.
        """
        before_kwargs, before_time = self._tail
        return b"".join(
            (
                self._open_id, task_id.encode(), self._after_id,
                dumps_json(args) if args else b"[]", before_kwargs,
                dumps_json(kwargs) if kwargs else b"{}", before_time,
                enqueued_at, b',"attempt":1}',
            )
        )  # fmt: skip


def with_trace(raw: bytes, trace_json: bytes) -> bytes:
    """A canonical message with a ``trace`` field added: the last field, always."""
    return b'%s,"trace":%s}' % (raw[:-1], trace_json)


def with_metadata(raw: bytes, metadata_json: bytes) -> bytes:
    """A canonical message with a ``metadata`` field added (after any ``trace``)."""
    return b'%s,"metadata":%s}' % (raw[:-1], metadata_json)


def with_by(raw: bytes, by: str) -> bytes:
    """A canonical message with a ``by`` field (the enqueuing user's pk) added."""
    return b'%s,"by":%s}' % (raw[:-1], orjson.dumps(by))


def with_unique(raw: bytes, digest: str) -> bytes:
    """A canonical message with a ``unique`` field added, after any ``trace``."""
    return b'%s,"unique":"%s"}' % (raw[:-1], digest.encode())


def dumps_json(value: Any) -> bytes:
    """JSON bytes of a value, or TypeError naming what is not JSON.

    orjson refuses non-str dict keys and out-of-range ints; NaN/inf must be
    refused by hand because orjson writes them as null.
    """
    _reject_non_finite(value)
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"not JSON serializable: {exc}") from None


def _reject_non_finite(value: Any, depth: int = 0) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError(f"not JSON serializable: {value!r} is not a finite number")
    if depth > 200:
        raise TypeError("not JSON serializable: nested too deep")
    if isinstance(value, dict):
        for item in value.values():
            _reject_non_finite(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_non_finite(item, depth + 1)
