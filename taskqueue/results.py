"""The result record: the Redis hash behind each TaskResult, and its one reader.

Lua scripts write ``{Q}:result:<id>`` (claim, running, settle, requeue);
``ResultRecord.parse`` is the only code that reads it, so the API, the
dashboard, the backend and the commands see typed attributes, never a field
name. Its fields (``Field``): ``msg`` (the envelope as last queued),
``status``, ``started_at``, ``last_attempted_at``, ``finished_at`` (unix
seconds), ``worker`` (the consumer running it now), ``worker:<attempt>``
(the consumer that ran each finished attempt, then, since the task page,
that attempt's start and finish: ``"<consumer> <start> <finish>"``; the
consumer alone in records written before), ``return`` (JSON),
The settle of a first attempt that ran and returned writes no
``started_at``, ``last_attempted_at`` or ``finished_at`` (three fields of
nearly every record, issue 21): its span holds them, and ``parse`` reads
them there.
``retry_of`` / ``retried_as:<id>`` (the task page's Retry links), and
``error:<attempt>`` / ``error:dead`` (JSON: class, args, str, traceback,
written by ``error_json`` and ``reason_json``).

Reading is total: a record Redis holds may have been written by anyone
(``HSET`` by hand, an old version), and one bad field must not turn a page
or a command into a traceback. An unreadable field reads as None (or empty)
and is named in ``ResultRecord.unreadable``.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from taskqueue import metadata as task_metadata
from taskqueue.compat import TaskError, TaskResult, TaskResultStatus
from taskqueue.record_attempts import Span, StoredError, attempt_fields, retries
from taskqueue.record_values import (
    DEAD_ERROR_FIELD,
    Field,
    error_field,
    iso,
    known_field,
    loads_or_none,
    timestamp,
)

__all__ = [
    "DEAD_ERROR_FIELD", "Field", "ResultRecord", "StoredError", "UnreadableRecord",
    "error_field", "error_json", "iso", "known_field", "loads_or_none", "reason_json",
    "timestamp",
]  # fmt: skip


def error_json(exc: BaseException) -> bytes:
    """The stored form of an exception: what the API shows, plus the traceback."""
    return orjson.dumps(
        {
            "class": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "args": [_jsonable(arg) for arg in exc.args],
            "str": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
        }
    )


def reason_json(exception_class: str, message: str, *, dead_id: str = "") -> bytes:
    """An error record for an outcome with no Python exception (poison, limits);
    a dead-lettered task's names its dead letter (the task page's Requeue)."""
    error = {
        "class": exception_class,
        "args": [message],
        "str": message,
        "traceback": "",
    }
    return orjson.dumps({**error, "dead_id": dead_id} if dead_id else error)


def _jsonable(value: Any) -> Any:
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)
    return value


class UnreadableRecord(ValueError):
    """A stored record too damaged to name its task or status (the JSON API still shows it)."""


_MSG, _STATUS, _WORKER, _RETURN = (
    name.encode() for name in (Field.MSG, Field.STATUS, Field.WORKER, Field.RETURN)
)
_METADATA = Field.METADATA.encode()
_CANCEL = Field.CANCEL.encode()
_RETRY_OF = Field.RETRY_OF.encode()
_BUCKET = Field.BUCKET.encode()
_TIMES = tuple((name, name.encode()) for name in Field.TIMES)


def _status(raw: bytes) -> TaskResultStatus | None:
    try:
        return TaskResultStatus(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return None


def _starts(
    times: Mapping[str, datetime | None],
    spans: tuple[Span, ...],
    status: TaskResultStatus | None,
) -> tuple[datetime | None, datetime | None]:
    """(started_at, last_attempted_at): the finished attempts' spans where
    they tell (the first attempt's start; the last one's, unless one runs
    now), else the stored stamps (a claim's, a RUNNING mark's)."""
    first = spans[0][0] if spans else None
    last = spans[-1][0] if spans and status != TaskResultStatus.RUNNING else None
    return (
        first or times[Field.STARTED_AT],
        last or times[Field.LAST_ATTEMPTED_AT],
    )


def _finish(
    spans: tuple[Span, ...], status: TaskResultStatus | None
) -> datetime | None:
    """A finished task's last span's end (a first attempt that returned keeps
    no finished_at of its own); None while it may run again."""
    done = status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
    return spans[-1][1] if spans and done else None


def _text(raw: bytes | None) -> str | None:
    return raw.decode(errors="replace") if raw is not None else None


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """A task's stored state, read field by field; ``parse`` never raises.

    The times are the stored stamps (a claim stamps ``started_at`` before the
    message is decoded); ``attempt_times()`` is what a reader reports.
    """

    envelope: dict[str, Any]  # the stored message; {} when absent or not an object
    has_message: bool  # a ``msg`` field is stored, readable or not
    status: TaskResultStatus | None  # READY when absent; None when unknown
    started_at: datetime | None
    last_attempted_at: datetime | None
    finished_at: datetime | None
    unreadable_times: tuple[str, ...]  # time fields stored but not readable
    running_on: str | None  # the consumer running it now
    finished_by: tuple[str, ...]  # the consumer of each finished attempt
    errors: tuple[StoredError, ...]  # in attempt order, a dead-letter reason last
    return_json: bytes | None
    metadata_json: bytes | None = None  # as the running task saved it
    cancel: str | None = None  # how it was cancelled ('stop', 'terminate'), if it was
    spans: tuple[Span, ...] = ()  # each finished attempt's (start, finish), if stored
    retry_of: str | None = None  # the task this one is a Retry of
    retried_as: tuple[str, ...] = ()  # the Retries made of this task
    bucket: int | None = None  # the minute whose task list bucket lists it

    @classmethod
    def parse(
        cls, raw: Mapping[bytes, bytes], ready: bytes | None = None
    ) -> ResultRecord:
        """The record of a raw hash (as HGETALL returns it), with the task's
        READY entry (its message until a worker settles it), if it has one."""
        if ready is not None and _MSG not in raw:
            raw = {_STATUS: b"READY", **raw, _MSG: ready}
        envelope = loads_or_none(raw.get(_MSG))
        times = {name: timestamp(raw.get(key)) for name, key in _TIMES}
        finished_by, errors, spans = attempt_fields(raw)
        status = _status(raw.get(_STATUS, b"READY"))
        started_at, last_attempted_at = _starts(times, spans, status)
        finished_at = times[Field.FINISHED_AT] or _finish(spans, status)
        return cls(
            envelope=envelope if isinstance(envelope, dict) else {},
            has_message=_MSG in raw,
            status=status,
            started_at=started_at,
            last_attempted_at=last_attempted_at,
            finished_at=finished_at,
            unreadable_times=tuple(
                name for name, key in _TIMES if key in raw and times[name] is None
            ),
            running_on=_text(raw.get(_WORKER)),
            finished_by=finished_by,
            errors=errors,
            return_json=raw.get(_RETURN),
            metadata_json=raw.get(_METADATA),
            cancel=_text(raw.get(_CANCEL)),
            spans=spans,
            retry_of=_text(raw.get(_RETRY_OF)),
            retried_as=retries(raw),
            bucket=_minute(raw.get(_BUCKET)),
        )

    # The stored message, read as a reader may (each field typed or None).

    @property
    def task_path(self) -> str | None:
        path = self.envelope.get("task")
        return path if isinstance(path, str) else None

    @property
    def queue_name(self) -> str | None:
        queue = self.envelope.get("queue")
        return queue if isinstance(queue, str) else None

    @property
    def priority(self) -> int | None:
        priority = self.envelope.get("p")
        return priority if type(priority) is int else None

    @property
    def enqueued_at(self) -> datetime | None:
        return timestamp(self.envelope.get("enqueued_at"))

    @property
    def enqueued_by(self) -> str | None:
        """The pk of the user it was enqueued for (taskqueue/enqueuer.py), if known."""
        by = self.envelope.get("by")
        return by if isinstance(by, str) and by else None

    @property
    def args(self) -> list[Any]:
        args = self.envelope.get("args")
        return args if isinstance(args, list) else []

    @property
    def kwargs(self) -> dict[str, Any]:
        kwargs = self.envelope.get("kwargs")
        return kwargs if isinstance(kwargs, dict) else {}

    @property
    def schedule(self) -> dict[str, Any] | None:
        """The schedule that fired this run ({"name", "tick", ...}), if any and readable."""
        mark = self.envelope.get("schedule")
        if not isinstance(mark, dict) or not isinstance(mark.get("name"), str):
            return None
        tick = timestamp(mark.get("tick"))
        flags = {k: True for k in ("manual", "catch_up") if mark.get(k) is True}
        return {"name": mark["name"], "tick": tick, **flags}

    # What the record says about the task's attempts.

    @property
    def worker_ids(self) -> list[str]:
        """Finished attempts' workers, plus the running one: len() is ``attempts``."""
        ids = list(self.finished_by)
        if self.status == TaskResultStatus.RUNNING and self.running_on is not None:
            ids.append(self.running_on)
        return ids

    def attempt_times(self) -> tuple[datetime | None, datetime | None]:
        """(started_at, last_attempted_at), null for a task no attempt of which ran.

        A poison message (which never runs) was stamped at its claim; the
        reader reports what happened instead: it never started.
        """
        if not self.worker_ids and self.status != TaskResultStatus.RUNNING:
            return None, None
        return self.started_at, self.last_attempted_at

    @property
    def metadata(self) -> dict[str, Any]:
        """The saved metadata, else the message's, else {} (#141: always a dict)."""
        saved = task_metadata.decoded(self.metadata_json)
        if saved is not None:
            return saved
        sent = self.envelope.get("metadata")
        return sent if isinstance(sent, dict) else {}

    @property
    def has_return(self) -> bool:
        return self.return_json is not None

    @property
    def return_value(self) -> Any:
        return loads_or_none(self.return_json)

    @property
    def unreadable(self) -> list[str]:
        """Names of the fields that are stored but could not be read (shown as null)."""
        names = [] if self.envelope else ["msg"]
        shown = {
            "task": self.task_path,
            "enqueued_at": self.enqueued_at,
            "args": self.args,
            "kwargs": self.kwargs,
        }
        for name, value in shown.items():
            stored = self.envelope.get(name, value)
            if value in (None, [], {}) and stored != value:
                names.append(name)
        if self.status is None:
            names.append("status")
        names.extend(self.unreadable_times)
        if any(error.exception_class is None for error in self.errors):
            names.append("errors")
        raw_return = self.return_json
        if raw_return not in (None, b"null") and self.return_value is None:
            names.append("return_value")
        return names

    def task_result(self, task_id: str, *, task: Any, alias: str) -> TaskResult[Any]:
        """A Django TaskResult of this record and its (registered) task.

        Raises UnreadableRecord only when the status is unknown, which a
        TaskResult cannot represent.
        """
        if self.status is None:
            raise UnreadableRecord(f"task {task_id}: unreadable status")
        started_at, last_attempted_at = self.attempt_times()
        result: TaskResult[Any] = task_metadata.MetadataTaskResult(
            metadata=self.metadata,
            task=task,
            id=task_id,
            status=self.status,
            enqueued_at=self.enqueued_at,
            started_at=started_at,
            finished_at=self.finished_at,
            last_attempted_at=last_attempted_at,
            args=self.args,
            kwargs=self.kwargs,
            backend=alias,
            errors=[
                TaskError(
                    exception_class_path=e.exception_class or "", traceback=e.traceback
                )
                for e in self.errors
            ],
            worker_ids=self.worker_ids,
        )
        if self.has_return:
            object.__setattr__(result, "_return_value", self.return_value)
        return result


def _minute(value: bytes | None) -> int | None:
    """A stored minute (unix seconds // 60), None when absent or unreadable."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
