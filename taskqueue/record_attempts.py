"""The attempts a result record tells of: per-attempt workers, spans and errors.

``worker:<attempt>`` holds "<consumer> <start> <finish>" (the settle,
lua/settle_record.lua), or the consumer alone in a record written before
attempts kept their span; ``error:<attempt>`` / ``error:dead`` /
``error:cancel`` hold JSON errors; ``retried_as:<id>`` the task page's
Retries. Read only through ResultRecord (taskqueue/results.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from taskqueue.record_values import Field, loads_or_none, timestamp

_WORKER_OF, _ERROR_OF = Field.WORKER_OF.encode(), Field.ERROR_OF.encode()
_RETRIED_AS = Field.RETRIED_AS.encode()
_LAST_ERROR = 10**9  # the order of an error field with no attempt number (dead)


@dataclass(frozen=True, slots=True)
class StoredError:
    """One ``error:*`` field; ``exception_class`` is None when it could not be read."""

    exception_class: str | None
    args: list[Any]
    text: str  # str() of the exception
    traceback: str
    dead_id: str = ""  # the dead letter holding the message, for a dead-lettered task
    attempt: int | None = None  # the attempt that failed; None for "dead", "cancel"

    @classmethod
    def parse(cls, raw: bytes) -> StoredError:
        value = loads_or_none(raw)
        if not isinstance(value, dict):
            return cls(None, [], "(unreadable error record)", "")
        name, args, dead_id = (
            value.get("class"),
            value.get("args"),
            value.get("dead_id"),
        )
        return cls(
            name if isinstance(name, str) else None,
            args if isinstance(args, list) else [],
            str(value.get("str", "")),
            str(value.get("traceback", "")),
            dead_id if isinstance(dead_id, str) else "",
        )


Span = tuple[datetime | None, datetime | None]  # one attempt's (start, finish)


def worker_value(raw: bytes) -> tuple[str, Span]:
    """A ``worker:<attempt>`` value: "<consumer> <start> <finish>", or (older
    records) the consumer alone, whose span is then unknown."""
    text = raw.decode(errors="replace")
    name, _, rest = text.rpartition(" ")
    head, _, start = name.rpartition(" ")
    span = (timestamp(start), timestamp(rest))
    if head and None not in span:
        return head, span
    return text, (None, None)


def attempt_fields(
    raw: Mapping[bytes, bytes],
) -> tuple[tuple[str, ...], tuple[StoredError, ...], tuple[Span, ...]]:
    """Finished attempts' workers, the stored errors and the attempts' spans,
    each in attempt order."""
    workers, errors = [], []
    for name, value in raw.items():
        if name.startswith(_ERROR_OF):
            suffix = name.removeprefix(_ERROR_OF)
            number = int(suffix) if suffix.isdigit() else None
            error = replace(StoredError.parse(value), attempt=number)
            errors.append((_LAST_ERROR if number is None else number, error))
        elif name.startswith(_WORKER_OF):
            attempt = name.removeprefix(_WORKER_OF)
            if attempt.isdigit():
                workers.append((int(attempt), worker_value(value)))
    workers.sort(key=lambda item: item[0])
    return (
        tuple(worker for _, (worker, _span) in workers),
        tuple(error for _, error in sorted(errors, key=lambda item: item[0])),
        tuple(span for _, (_worker, span) in workers),
    )


def retries(raw: Mapping[bytes, bytes]) -> tuple[str, ...]:
    """The ids of the retries made of a task (``retried_as:<id>``), oldest first."""
    made = [
        (timestamp(value), name.removeprefix(_RETRIED_AS).decode(errors="replace"))
        for name, value in raw.items()
        if name.startswith(_RETRIED_AS)
    ]
    epoch = datetime.min.replace(tzinfo=UTC)
    return tuple(task_id for _, task_id in sorted(made, key=lambda m: m[0] or epoch))
