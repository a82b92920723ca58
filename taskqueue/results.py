"""The result record: the Redis hash behind each TaskResult, and its one reader.

Lua scripts write ``{Q}:result:<id>`` (claim, running, settle, requeue);
``ResultRecord.parse`` is the only code that reads it, so the API, the
dashboard, the backend and the commands see typed attributes, never a field
name. Its fields (``Field``): ``msg`` (the envelope as last queued),
``status``, ``started_at``, ``last_attempted_at``, ``finished_at`` (unix
seconds), ``worker`` (the consumer running it now), ``worker:<attempt>``
(the consumer that ran each finished attempt), ``return`` (JSON), and
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
from datetime import UTC, datetime
from typing import Any

import orjson

from taskqueue import metadata as task_metadata
from taskqueue.compat import TaskError, TaskResult, TaskResultStatus


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
    BUCKET = "bucket"  # the minute whose task list bucket lists it (settle_index.lua)
    NAMES = (
        MSG, STATUS, STARTED_AT, LAST_ATTEMPTED_AT, FINISHED_AT, WORKER, RETURN,
        METADATA, CANCEL, BUCKET,
    )  # fmt: skip
    PREFIXES = (WORKER_OF, ERROR_OF)
    TIMES = (STARTED_AT, FINISHED_AT, LAST_ATTEMPTED_AT)  # in ``unreadable`` order


DEAD_ERROR_FIELD = f"{Field.ERROR_OF}dead"  # the reason of a dead-lettered task


def error_field(attempt: int) -> str:
    """The field that holds the error of one failed attempt."""
    return f"{Field.ERROR_OF}{attempt}"


def known_field(name: str) -> bool:
    """Whether ``name`` is a field ResultRecord reads (its own or a prefixed one)."""
    return name in Field.NAMES or name.startswith(Field.PREFIXES)


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


def reason_json(exception_class: str, message: str) -> bytes:
    """An error record for an outcome with no Python exception (poison, limits)."""
    return orjson.dumps(
        {"class": exception_class, "args": [message], "str": message, "traceback": ""}
    )


def _jsonable(value: Any) -> Any:
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)
    return value


class UnreadableRecord(ValueError):
    """A stored record too damaged to name its task or status (the JSON API still shows it)."""


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


@dataclass(frozen=True, slots=True)
class StoredError:
    """One ``error:*`` field; ``exception_class`` is None when it could not be read."""

    exception_class: str | None
    args: list[Any]
    text: str  # str() of the exception
    traceback: str

    @classmethod
    def parse(cls, raw: bytes) -> StoredError:
        value = loads_or_none(raw)
        if not isinstance(value, dict):
            return cls(None, [], "(unreadable error record)", "")
        name, args = value.get("class"), value.get("args")
        return cls(
            name if isinstance(name, str) else None,
            args if isinstance(args, list) else [],
            str(value.get("str", "")),
            str(value.get("traceback", "")),
        )


_MSG, _STATUS, _WORKER, _RETURN = (
    name.encode() for name in (Field.MSG, Field.STATUS, Field.WORKER, Field.RETURN)
)
_WORKER_OF, _ERROR_OF = Field.WORKER_OF.encode(), Field.ERROR_OF.encode()
_METADATA = Field.METADATA.encode()
_CANCEL = Field.CANCEL.encode()
_BUCKET = Field.BUCKET.encode()
_TIMES = tuple((name, name.encode()) for name in Field.TIMES)
_LAST_ERROR = 10**9  # the order of an error field with no attempt number (dead)


def _status(raw: bytes) -> TaskResultStatus | None:
    try:
        return TaskResultStatus(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return None


def _text(raw: bytes | None) -> str | None:
    return raw.decode(errors="replace") if raw is not None else None


def _attempt_fields(
    raw: Mapping[bytes, bytes],
) -> tuple[tuple[str, ...], tuple[StoredError, ...]]:
    """Finished attempts' workers and the stored errors, each in attempt order."""
    workers, errors = [], []
    for name, value in raw.items():
        if name.startswith(_ERROR_OF):
            suffix = name.removeprefix(_ERROR_OF)
            order = int(suffix) if suffix.isdigit() else _LAST_ERROR
            errors.append((order, StoredError.parse(value)))
        elif name.startswith(_WORKER_OF):
            attempt = name.removeprefix(_WORKER_OF)
            if attempt.isdigit():
                workers.append((int(attempt), value.decode(errors="replace")))
    return (
        tuple(worker for _, worker in sorted(workers)),
        tuple(error for _, error in sorted(errors, key=lambda item: item[0])),
    )


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
        finished_by, errors = _attempt_fields(raw)
        return cls(
            envelope=envelope if isinstance(envelope, dict) else {},
            has_message=_MSG in raw,
            status=_status(raw.get(_STATUS, b"READY")),
            started_at=times[Field.STARTED_AT],
            last_attempted_at=times[Field.LAST_ATTEMPTED_AT],
            finished_at=times[Field.FINISHED_AT],
            unreadable_times=tuple(
                name for name, key in _TIMES if key in raw and times[name] is None
            ),
            running_on=_text(raw.get(_WORKER)),
            finished_by=finished_by,
            errors=errors,
            return_json=raw.get(_RETURN),
            metadata_json=raw.get(_METADATA),
            cancel=_text(raw.get(_CANCEL)),
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
