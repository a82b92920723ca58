"""Result records: the Redis hash behind each TaskResult.

Fields of ``{Q}:result:<id>``: ``msg`` (the envelope as last queued),
``status``, ``started_at``, ``last_attempted_at``, ``finished_at`` (unix
seconds), ``worker`` (the consumer running it now), ``worker:<attempt>``
(the consumer that ran each finished attempt), ``return`` (JSON), and
``error:<attempt>`` / ``error:dead`` (JSON: class, args, str, traceback).
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, overload

import orjson

from taskqueue.compat import TaskError, TaskResult, TaskResultStatus

SCALARS = (str, int, float, bool, type(None))


def _setter(name: str) -> Any:
    """A fast field setter: the slot descriptor where TaskResult has slots."""
    slot = getattr(TaskResult, name, None)
    if slot is not None and hasattr(slot, "__set__"):
        return slot.__set__
    return lambda obj, value: object.__setattr__(obj, name, value)


class ReadyResults:
    """READY TaskResults of one task, built cheaply.

    Arguments of scalars need none of TaskResult's JSON normalisation, and
    every field but the id, the arguments and the time is the same for every
    call, so those results are filled in slot by slot; anything else goes
    through TaskResult itself. A bulk enqueue builds thousands of these.
    """

    _SET_ID, _SET_ARGS, _SET_KWARGS, _SET_ERRORS, _SET_WORKERS, _SET_ENQUEUED = (
        _setter(name)
        for name in ("id", "args", "kwargs", "errors", "worker_ids", "enqueued_at")
    )

    def __init__(self, task: Any, alias: str) -> None:
        self.common: dict[str, Any] = {
            "task": task, "status": TaskResultStatus.READY, "started_at": None,
            "finished_at": None, "last_attempted_at": None, "backend": alias,
        }  # fmt: skip
        fixed = {**self.common, "_return_value": None}
        self._fixed = [(_setter(name), value) for name, value in fixed.items()]

    def build(
        self,
        task_id: str,
        args: list[Any],
        kwargs: dict[str, Any],
        *,
        enqueued_at: datetime,
    ) -> TaskResult[Any]:
        if (args or kwargs) and not (
            all(type(a) in SCALARS for a in args)
            and all(type(v) in SCALARS for v in kwargs.values())
        ):
            return TaskResult(
                id=task_id, args=args, kwargs=kwargs, errors=[], worker_ids=[],
                enqueued_at=enqueued_at, **self.common,
            )  # fmt: skip
        result: TaskResult[Any] = object.__new__(TaskResult)
        for set_field, value in self._fixed:
            set_field(result, value)
        self._SET_ID(result, task_id)
        self._SET_ARGS(result, args)
        self._SET_KWARGS(result, kwargs)
        self._SET_ERRORS(result, [])
        self._SET_WORKERS(result, [])
        self._SET_ENQUEUED(result, enqueued_at)
        return result


class ReadyList(Sequence["TaskResult[Any]"]):  # a string: not generic on Django 6
    """The READY TaskResults of one bulk enqueue, each built when first read.

    A caller that queues 10,000 tasks rarely reads their results; building
    them all up front was a third of the enqueue's time. Reading one twice
    gives the same object.
    """

    __slots__ = ("_args", "_built", "_enqueued_at", "_ids", "_kwargs", "_ready")

    def __init__(
        self,
        ready: ReadyResults,
        ids: list[str],
        *,
        args: list[list[Any]],
        kwargs: list[dict[str, Any]],
        enqueued_at: datetime,
    ) -> None:
        self._ready, self._ids, self._args, self._kwargs = ready, ids, args, kwargs
        self._enqueued_at = enqueued_at
        self._built: list[TaskResult[Any] | None] = [None] * len(ids)

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> TaskResult[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[TaskResult[Any]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> TaskResult[Any] | list[TaskResult[Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        result = self._built[index]
        if result is None:
            result = self._built[index] = self._ready.build(
                self._ids[index], self._args[index], self._kwargs[index],
                enqueued_at=self._enqueued_at,
            )  # fmt: skip
        return result

    def __repr__(self) -> str:
        return f"<ReadyList of {len(self)} task results>"


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


def read_time(record: dict[bytes, bytes], name: bytes) -> datetime | None:
    """A stored unix time as an aware datetime; None when absent or unreadable.

    Readers must be total: a record Redis holds may have been written by
    anyone (``HSET`` by hand, an old version), and one bad field must not
    turn a page or a command into a traceback.
    """
    return timestamp(record.get(name))


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


def read_envelope(record: dict[bytes, bytes]) -> dict[str, Any]:
    """The stored message as a dict; empty when absent or not a JSON object."""
    value = loads_or_none(record.get(b"msg"))
    return value if isinstance(value, dict) else {}


def read_status(record: dict[bytes, bytes]) -> TaskResultStatus | None:
    """The stored status (READY when absent); None when it is not a known status."""
    raw = record.get(b"status", b"READY")
    try:
        return TaskResultStatus(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return None


UNREADABLE_ERROR: dict[str, Any] = {
    "class": None, "args": [], "str": "(unreadable error record)", "traceback": "",
}  # fmt: skip


def _error(raw: bytes) -> dict[str, Any]:
    """One stored error, or a marker saying it could not be read."""
    value = loads_or_none(raw)
    if not isinstance(value, dict):
        return dict(UNREADABLE_ERROR)
    return {
        "class": value.get("class") if isinstance(value.get("class"), str) else None,
        "args": value.get("args") if isinstance(value.get("args"), list) else [],
        "str": str(value.get("str", "")),
        "traceback": str(value.get("traceback", "")),
    }


def errors(record: dict[bytes, bytes]) -> list[dict[str, Any]]:
    """Stored errors in attempt order (a dead-letter reason last); never raises."""
    items = []
    for name, value in record.items():
        if name.startswith(b"error:"):
            suffix = name[6:]
            order = int(suffix) if suffix.isdigit() else 10**9
            items.append((order, _error(value)))
    return [error for _, error in sorted(items, key=lambda item: item[0])]


def _worker_ids(record: dict[bytes, bytes]) -> list[str]:
    """One id per finished attempt, from the ``worker:<attempt>`` fields."""
    attempts = [
        (int(name[7:]), value.decode(errors="replace"))
        for name, value in record.items()
        if name.startswith(b"worker:") and name[7:].isdigit()
    ]
    return [worker for _, worker in sorted(attempts)]


def worker_ids(
    record: dict[bytes, bytes], status: TaskResultStatus | None
) -> list[str]:
    """Finished attempts' workers, plus the running one: len() is ``attempts``."""
    ids = _worker_ids(record)
    if status == TaskResultStatus.RUNNING and b"worker" in record:
        ids.append(record[b"worker"].decode(errors="replace"))
    return ids


def attempt_times(
    record: dict[bytes, bytes], attempts: int, status: TaskResultStatus | None
) -> tuple[datetime | None, datetime | None]:
    """(started_at, last_attempted_at), null for a task no attempt of which ran.

    A claim stamps ``started_at`` before the message is decoded, so a poison
    message (which never runs) would show a start time with ``attempts: 0``;
    the reader reports what happened instead: it never started.
    """
    if attempts == 0 and status != TaskResultStatus.RUNNING:
        return None, None
    return read_time(record, b"started_at"), read_time(record, b"last_attempted_at")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def build(
    task_id: str, record: dict[bytes, bytes], *, task: Any, alias: str
) -> TaskResult[Any]:
    """A Django TaskResult from a stored record and the (registered) task.

    Unreadable fields read as None (times) or empty (arguments, errors);
    raises UnreadableRecord only when the status itself is unknown, which
    a TaskResult cannot represent.
    """
    envelope = read_envelope(record)
    status = read_status(record)
    if status is None:
        raise UnreadableRecord(f"task {task_id}: unreadable status")
    ids = worker_ids(record, status)
    started_at, last_attempted_at = attempt_times(record, len(ids), status)
    result: TaskResult[Any] = TaskResult(
        task=task,
        id=task_id,
        status=status,
        enqueued_at=timestamp(envelope.get("enqueued_at")),
        started_at=started_at,
        finished_at=read_time(record, b"finished_at"),
        last_attempted_at=last_attempted_at,
        args=_list(envelope.get("args")),
        kwargs=_dict(envelope.get("kwargs")),
        backend=alias,
        errors=[
            TaskError(exception_class_path=e["class"] or "", traceback=e["traceback"])
            for e in errors(record)
        ],
        worker_ids=ids,
    )
    if b"return" in record:
        object.__setattr__(result, "_return_value", loads_or_none(record[b"return"]))
    return result


def describe(task_id: str, record: dict[bytes, bytes]) -> dict[str, Any]:
    """What GET /api/tasks/<id>/ shows of a stored record; never raises.

    Built from the record itself, not from a TaskResult, so that a record
    with a damaged message or status is still shown: each field that cannot
    be read is null (or empty), and ``unreadable`` names them.
    """
    envelope = read_envelope(record)
    status = read_status(record)
    ids = worker_ids(record, status)
    started_at, last_attempted_at = attempt_times(record, len(ids), status)
    payload: dict[str, Any] = {
        "id": task_id,
        "task": envelope.get("task") if isinstance(envelope.get("task"), str) else None,
        "status": status.value if status is not None else None,
        "enqueued_at": _iso(timestamp(envelope.get("enqueued_at"))),
        "started_at": _iso(started_at),
        "finished_at": _iso(read_time(record, b"finished_at")),
        "last_attempted_at": _iso(last_attempted_at),
        "attempts": len(ids),
        "args": _list(envelope.get("args")),
        "kwargs": _dict(envelope.get("kwargs")),
    }
    if status == TaskResultStatus.SUCCESSFUL and b"return" in record:
        payload["return_value"] = loads_or_none(record[b"return"])
    payload["errors"] = [
        {
            "exception": {"class": e["class"], "args": e["args"], "str": e["str"]},
            "traceback": e["traceback"],
        }
        for e in errors(record)
    ]
    unreadable = _unreadable(record, envelope, payload)
    if unreadable:
        payload["unreadable"] = unreadable
    return payload


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _unreadable(
    record: dict[bytes, bytes], envelope: dict[str, Any], payload: dict[str, Any]
) -> list[str]:
    """Names of the fields that are stored but could not be read (shown as null)."""
    names = []
    if not envelope:
        names.append("msg")
    for field in ("task", "enqueued_at", "args", "kwargs"):
        shown = payload[field]
        if field in envelope and shown in (None, [], {}) and envelope[field] != shown:
            names.append(field)
    if payload["status"] is None:
        names.append("status")
    for field in ("started_at", "finished_at", "last_attempted_at"):
        if field.encode() in record and read_time(record, field.encode()) is None:
            names.append(field)
    if any(e["exception"]["class"] is None for e in payload["errors"]):
        names.append("errors")
    raw_return = record.get(b"return")
    if (
        raw_return is not None
        and raw_return != b"null"
        and loads_or_none(raw_return) is None
    ):
        names.append("return_value")
    return names
