"""The result record's vocabulary: its field names, and readers of its raw values.

Split from taskqueue/results.py (which re-exports all of it) so that the
record's parts (taskqueue/record_attempts.py) can use them without a cycle.
Each reader is total: anything unreadable reads as None.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson


class Field:
    """The record's field names, as the scripts (and the settle) write them."""

    MSG = "msg"
    STATUS = "status"
    STARTED_AT = "started_at"
    LAST_ATTEMPTED_AT = "last_attempted_at"
    FINISHED_AT = "finished_at"
    WORKER = "worker"
    RETURN = "return"
    METADATA = "metadata"  # JSON, saved by the running task (taskqueue/metadata.py)
    WORKER_OF = "worker:"  # + the attempt it ran
    ERROR_OF = "error:"  # + the attempt that failed, "dead", or "cancel"
    CANCEL = "cancel"  # 'stop' or 'terminate': cancelled (lua/cancel.lua)
    RETRY_OF = "retry_of"  # the task this one retries (store/retries.py)
    RETRIED_AS = "retried_as:"  # + a retry's id; the value is when it was made
    BUCKET = "bucket"  # the minute whose task list bucket lists it (settle_index.lua)
    NAMES = (
        MSG, STATUS, STARTED_AT, LAST_ATTEMPTED_AT, FINISHED_AT, WORKER, RETURN,
        METADATA, CANCEL, RETRY_OF, BUCKET,
    )  # fmt: skip
    PREFIXES = (WORKER_OF, ERROR_OF, RETRIED_AS)
    TIMES = (STARTED_AT, FINISHED_AT, LAST_ATTEMPTED_AT)  # in ``unreadable`` order


DEAD_ERROR_FIELD = f"{Field.ERROR_OF}dead"  # the reason of a dead-lettered task


def error_field(attempt: int) -> str:
    """The field that holds the error of one failed attempt."""
    return f"{Field.ERROR_OF}{attempt}"


def known_field(name: str) -> bool:
    """Whether ``name`` is a field ResultRecord reads (its own or a prefixed one)."""
    return name in Field.NAMES or name.startswith(Field.PREFIXES)


def timestamp(raw: Any) -> datetime | None:
    """Seconds since the epoch (number, bytes or str) as UTC; None if unreadable."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return datetime.fromtimestamp(float(raw), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def iso(raw: Any) -> str | None:
    """ISO 8601 (UTC) for a stored unix time; None if absent or unreadable."""
    when = timestamp(raw)
    return when.isoformat() if when is not None else None


def loads_or_none(raw: bytes | None) -> Any:
    """JSON or None: a reader's view of a field that may hold anything."""
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
