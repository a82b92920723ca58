"""Decoding: the bytes read from Redis to an Envelope, or PoisonMessage saying why not.

The only gate between Redis and the worker: every field is type- and
range-checked here (the limits are the protocol's, in protocol.py), so
nothing later can fail on a value a message carries.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import orjson

from taskqueue.enqueuer import BY_MAX
from taskqueue.exceptions import PoisonMessage
from taskqueue.legacy import parse_literal
from taskqueue.protocol import (
    CLOCK_SKEW,
    FIELDS,
    ID_RE,
    LEGACY_FIELD,
    MAX_ATTEMPT,
    MAX_DEPTH,
    MAX_TIMESTAMP,
    SCHEDULE_NAME_MAX,
    TRACE_LIMITS,
    UNIQUE_RE,
    VERSION,
    Envelope,
)

# The id at the head of an envelope, where the Lua scripts read it.
_PREFIX_ID = re.compile(rb'\{"v":1,"id":"([A-Za-z0-9_-]{1,63})"')


def decode(raw: bytes, *, max_bytes: int, queue: str) -> Envelope:
    """The envelope a message carries, or PoisonMessage saying why it has none.

    This is the only gate between Redis and the worker: every field is
    type- and range-checked here, so nothing later can fail on a value
    (a huge attempt, a timestamp past year 9999, a foreign queue, nesting
    orjson cannot write back). Accepts our envelope, the legacy wrapper
    claim.lua puts around the original system's messages, and those
    messages bare (a JSON object, or ``str(dict)`` text); a legacy message
    comes back with ``legacy=True`` for the worker to give its task.
    """
    if len(raw) > max_bytes and not _is_wrapper(raw, max_bytes):
        raise PoisonMessage(f"message of {len(raw)} bytes is over {max_bytes}", raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PoisonMessage("message is not UTF-8", raw) from None
    value = _object(_parse(text, raw), raw)
    if "v" not in value:
        return _legacy(value, queue=queue, task_id="", enqueued_at=0.0)
    if LEGACY_FIELD in value:
        return _unwrap(value, raw, max_bytes=max_bytes, queue=queue)
    return _envelope(value, raw, queue)


def visible_id(raw: bytes) -> str:
    """The task id the Lua scripts read from a message's prefix ('' if none).

    A poison message whose prefix names an id has had that task's record
    marked RUNNING by its claim; its dead letter must finish that record.
    """
    match = _PREFIX_ID.match(raw)
    return "" if match is None else match.group(1).decode()


def _is_wrapper(raw: bytes, max_bytes: int) -> bool:
    """A wrapped legacy message may exceed the limit by its escaping."""
    return len(raw) <= 2 * max_bytes + 256 and b'"legacy":' in raw[:96]


def _object(value: Any, raw: bytes) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PoisonMessage(
            f"message is a JSON {type(value).__name__}, not an object", raw
        )
    return value


def _parse(text: str, raw: bytes) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        # orjson reads ints past 64 bits as floats and refuses NaN, so only
        # nesting can stop it writing the value back; that needs brackets.
        if text.count("[") + text.count("{") > MAX_DEPTH:
            _check_depth(value, raw)
        return value
    if text.lstrip().startswith("{'") or text.lstrip().startswith("{}"):
        try:
            return parse_literal(text)
        except ValueError as exc:
            raise PoisonMessage(f"unreadable legacy message: {exc}", raw) from None
    raise PoisonMessage("message is not JSON", raw)


def _check_depth(value: Any, raw: bytes) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PoisonMessage(f"message is nested deeper than {MAX_DEPTH}", raw)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _legacy(
    value: dict[str, Any], *, queue: str, task_id: str, enqueued_at: float
) -> Envelope:
    return Envelope(
        id=task_id, task="", args=[], kwargs=value, queue=queue,
        enqueued_at=enqueued_at, legacy=True,
    )  # fmt: skip


def _unwrap(
    value: dict[str, Any], raw: bytes, *, max_bytes: int, queue: str
) -> Envelope:
    """The legacy message inside claim.lua's wrapper, with the wrapper's id."""
    inner, task_id = value.get(LEGACY_FIELD), value.get("id")
    if type(inner) is not str or type(task_id) is not str:
        raise PoisonMessage("legacy wrapper has no message or no id", raw)
    if not ID_RE.fullmatch(task_id):
        raise PoisonMessage("envelope id is not 1-63 letters, digits, - or _", raw)
    if len(inner.encode()) > max_bytes:
        raise PoisonMessage(f"legacy message is over {max_bytes} bytes", raw)
    enqueued_at = _timestamp(value.get("enqueued_at"), "enqueued_at", raw)
    payload = _object(_parse(inner, raw), raw)
    if "v" in payload:  # an envelope not in canonical form, wrapped as it was
        return _envelope(payload, raw, queue)
    return _legacy(payload, queue=queue, task_id=task_id, enqueued_at=enqueued_at)


def _envelope(value: dict[str, Any], raw: bytes, queue: str) -> Envelope:
    version = value.get("v")
    if type(version) is not int or version != VERSION:
        raise PoisonMessage(f"unsupported protocol version {version!r}", raw)
    if not _well_typed(value):
        _explain_bad_fields(value, raw)
    _check_ranges(value, raw, queue)
    return Envelope(
        id=value["id"],
        task=value["task"],
        args=value["args"],
        kwargs=value["kwargs"],
        queue=value["queue"],
        backend=value["backend"],
        priority=value["p"],
        enqueued_at=float(value["enqueued_at"]),
        attempt=value["attempt"],
        run_after=value.get("run_after"),
        trace=_trace(value.get("trace"), raw),
        workflow=_workflow(value.get("workflow"), raw),
        metadata=_metadata(value.get("metadata"), raw),
        unique=_unique(value.get("unique"), raw),
        schedule=None if "schedule" not in value else _schedule(value["schedule"], raw),
        by=None if "by" not in value else _by(value["by"], raw),
    )


def _metadata(value: Any, raw: bytes) -> dict[str, Any] | None:
    """The optional metadata object (#141); its size is the message's limit."""
    if value is None or type(value) is dict:
        return value
    raise PoisonMessage("envelope field 'metadata' has the wrong type", raw)


def _check_ranges(value: dict[str, Any], raw: bytes, queue: str) -> None:
    """PoisonMessage naming the first field whose value is out of range."""
    if not ID_RE.fullmatch(value["id"]):
        raise PoisonMessage("envelope id is not 1-63 letters, digits, - or _", raw)
    if not -100 <= value["p"] <= 100:
        raise PoisonMessage("envelope priority is outside -100..100", raw)
    if not 1 <= value["attempt"] <= MAX_ATTEMPT:
        raise PoisonMessage(f"envelope attempt is outside 1..{MAX_ATTEMPT}", raw)
    if value["queue"] != queue:
        raise PoisonMessage(
            f"envelope is for queue {value['queue'][:100]!r}, read from {queue!r}", raw
        )
    _timestamp(value["enqueued_at"], "enqueued_at", raw)
    if value.get("run_after") is not None:
        _timestamp(value["run_after"], "run_after", raw, latest=MAX_TIMESTAMP)


def _trace(value: Any, raw: bytes) -> dict[str, str] | None:
    """The optional W3C trace context, or PoisonMessage if it is not one in shape.

    Only its shape is checked here (an object of at most the TRACE_LIMITS
    keys, a traceparent, strings within their lengths); whether the strings
    parse is the propagator's business, which ignores values it cannot read.
    """
    if value is None:
        return None
    if (
        type(value) is not dict
        or type(value.get("traceparent")) is not str
        or not value.keys() <= TRACE_LIMITS.keys()
        or any(
            type(item) is not str or len(item) > TRACE_LIMITS[key]
            for key, item in value.items()
        )
    ):
        raise PoisonMessage("envelope field 'trace' is not a W3C trace context", raw)
    return value


def _workflow(value: Any, raw: bytes) -> str | None:
    """The optional workflow id (taskqueue.workflows), or PoisonMessage."""
    if value is None:
        return None
    if type(value) is not str or not ID_RE.fullmatch(value):
        raise PoisonMessage("envelope field 'workflow' is not a workflow id", raw)
    return value


def _by(value: Any, raw: bytes) -> str | None:
    """The optional enqueuing user's pk (taskqueue/enqueuer.py), or PoisonMessage."""
    if value is None:
        return None
    if type(value) is not str or not 0 < len(value) <= BY_MAX:
        raise PoisonMessage(f"envelope field 'by' is not 1-{BY_MAX} characters", raw)
    return value


def _unique(value: Any, raw: bytes) -> str | None:
    """The optional unique-key digest (40 hex digits), or PoisonMessage."""
    if value is None:
        return None
    if type(value) is not str or not UNIQUE_RE.fullmatch(value):
        raise PoisonMessage("envelope field 'unique' is not a key digest", raw)
    return value


def _schedule(value: Any, raw: bytes) -> dict[str, Any] | None:
    """The optional schedule a run was fired by, or PoisonMessage if not one in shape."""
    if value is None:
        return None
    if (
        type(value) is not dict
        or type(value.get("name")) is not str
        or not 0 < len(value["name"]) <= SCHEDULE_NAME_MAX
        or not value.keys() <= {"name", "tick", "manual", "catch_up"}
        or any(
            type(value.get(flag, False)) is not bool for flag in ("manual", "catch_up")
        )
    ):
        raise PoisonMessage("envelope field 'schedule' is not a schedule's tick", raw)
    _timestamp(value.get("tick"), "schedule tick", raw)
    return value


def _timestamp(
    value: Any, name: str, raw: bytes, *, latest: float | None = None
) -> float:
    """A unix time a datetime can hold, not after ``latest`` (default: soon)."""
    if type(value) not in (int, float):
        raise PoisonMessage(f"envelope field {name!r} has the wrong type", raw)
    limit = time.time() + CLOCK_SKEW if latest is None else latest
    if not (math.isfinite(value) and 0 <= value <= limit):
        raise PoisonMessage(f"envelope {name} is not a time we can store", raw)
    return float(value)


def _well_typed(value: dict[str, Any]) -> bool:
    """The fast check every message takes; exact types, as orjson produces them."""
    get = value.get
    return (
        type(get("id")) is str
        and type(get("task")) is str
        and type(get("args")) is list
        and type(get("kwargs")) is dict
        and type(get("queue")) is str
        and type(get("backend")) is str
        and type(get("p")) is int
        and type(get("attempt")) is int
        and type(get("enqueued_at")) in (int, float)
        and type(get("run_after")) in (int, float, type(None))
    )


def _explain_bad_fields(value: dict[str, Any], raw: bytes) -> None:
    """Raise PoisonMessage naming the first missing or wrongly typed field."""
    for name, (kind, required) in FIELDS.items():
        if name not in value:
            if required:
                raise PoisonMessage(f"envelope has no {name!r} field", raw)
            continue
        item = value[name]
        if not isinstance(item, kind) or (isinstance(item, bool) and kind is int):
            raise PoisonMessage(f"envelope field {name!r} has the wrong type", raw)
    raise PoisonMessage("envelope fields have the wrong types", raw)
