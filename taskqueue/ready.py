"""READY TaskResults: what an enqueue returns, built cheaply and only when read.

An enqueue knows everything a READY result holds (the task, its arguments,
the time), so nothing is read back from Redis; a bulk enqueue returns a
``ReadyList`` whose results are built on first access.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, overload

from taskqueue.compat import TaskResult, TaskResultStatus

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
