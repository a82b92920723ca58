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


def _time(record: dict[bytes, bytes], name: bytes) -> datetime | None:
    raw = record.get(name)
    if raw is None:
        return None
    return datetime.fromtimestamp(float(raw), tz=UTC)


def errors(record: dict[bytes, bytes]) -> list[dict[str, Any]]:
    """Stored errors in attempt order (a dead-letter reason last)."""
    items = []
    for name, value in record.items():
        if name.startswith(b"error:"):
            suffix = name[6:].decode()
            order = int(suffix) if suffix.isdigit() else 10**9
            items.append((order, orjson.loads(value)))
    return [error for _, error in sorted(items, key=lambda item: item[0])]


def _worker_ids(record: dict[bytes, bytes]) -> list[str]:
    """One id per finished attempt, from the ``worker:<attempt>`` fields."""
    attempts = [
        (int(name[7:]), value.decode())
        for name, value in record.items()
        if name.startswith(b"worker:") and name[7:].isdigit()
    ]
    return [worker for _, worker in sorted(attempts)]


def build(
    task_id: str, record: dict[bytes, bytes], *, task: Any, alias: str
) -> TaskResult[Any]:
    """A Django TaskResult from a stored record and the (registered) task."""
    envelope = orjson.loads(record[b"msg"])
    status = TaskResultStatus(record.get(b"status", b"READY").decode())
    worker_ids = _worker_ids(record)
    if status == TaskResultStatus.RUNNING and b"worker" in record:
        worker_ids.append(record[b"worker"].decode())
    result: TaskResult[Any] = TaskResult(
        task=task,
        id=task_id,
        status=status,
        enqueued_at=datetime.fromtimestamp(envelope["enqueued_at"], tz=UTC),
        started_at=_time(record, b"started_at"),
        finished_at=_time(record, b"finished_at"),
        last_attempted_at=_time(record, b"last_attempted_at"),
        args=envelope["args"],
        kwargs=envelope["kwargs"],
        backend=alias,
        errors=[
            TaskError(exception_class_path=e["class"], traceback=e["traceback"])
            for e in errors(record)
        ],
        worker_ids=worker_ids,
    )
    if b"return" in record:
        object.__setattr__(result, "_return_value", orjson.loads(record[b"return"]))
    return result
