"""RedisBackend: Django's Tasks API on a Redis list.

``enqueue`` validates, serializes to JSON and pushes one message (after the
surrounding transaction commits); ``enqueue_many`` pushes any number in one
round trip; ``get_result`` reads the result record from any process.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import partial
from os import getpid, urandom
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from taskqueue import enqueuer, registry, taskoptions, tracing, unique
from taskqueue import metadata as task_metadata
from taskqueue.broker import Broker, Durability, Outgoing
from taskqueue.compat import (
    DEFAULT_TASK_BACKEND_ALIAS,
    DEFAULT_TASK_QUEUE_NAME,
    BaseTaskBackend,
    InvalidTask,
    TaskResult,
    TaskResultDoesNotExist,
    task_backends,
    task_enqueued,
)
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import InvalidBackend
from taskqueue.protocol import CallEncoder, with_by, with_metadata
from taskqueue.ready import ReadyList, ReadyResults
from taskqueue.results import ResultRecord, UnreadableRecord
from taskqueue.signals import SignalGate
from taskqueue.task import RedisTask


class RedisBackend(BaseTaskBackend):
    """A Django Tasks backend whose queue is a Redis list (see docs/protocol.md)."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True
    supports_metadata = True  # django/new-features#141 (taskqueue/metadata.py)
    task_class = RedisTask

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.config = QueueOptions.from_params(params)
        self.queue_names = list(
            dict.fromkeys(params.get("QUEUES") or [DEFAULT_TASK_QUEUE_NAME])
        )
        self._broker: Broker | None = None
        self._plans: dict[int, _TaskPlan] = {}
        self._enqueued_gate = SignalGate(task_enqueued, type(self), logging.DEBUG)

    @property
    def broker(self) -> Broker:
        """The backend's broker, connected on first use (never at import)."""
        if self._broker is None:
            self._broker = Broker.connect(
                self.config.redis_url,
                embedded_dir=self.config.embedded_dir,
                prefix=self.config.key_prefix,
                durability=Durability.from_options(self.config),
            )
        return self._broker

    def validate_task(self, task: Any) -> None:
        """Django's checks, plus a ``timedelta`` run_after turned into a datetime."""
        if isinstance(task.run_after, timedelta):
            object.__setattr__(task, "run_after", timezone.now() + task.run_after)
        super().validate_task(task)

    def enqueue(
        self, task: Any, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> TaskResult[Any]:
        """Queue one call; raises TypeError if the arguments are not JSON."""
        plan = self._plan(task)
        now = time.time()
        args, kwargs = list(args), dict(kwargs)
        task_id = _task_id()
        raw = plan.message(task_id, args, kwargs, stamp=orjson.dumps(now))
        if tracing.enabled():  # the active span's context, for the worker's span
            (raw,) = tracing.stamp([raw], task=task, ids=[task_id], limit=plan.limit)
        result = plan.ready.build(
            task_id, args, kwargs, enqueued_at=datetime.fromtimestamp(now, tz=UTC)
        )
        if plan.metadata_json:
            result = _with_metadata(result, task.metadata)
        batch = Outgoing([task_id], [raw], task.priority, _delay(task, now))
        if plan.unique is not None:
            (unique_result,) = self._enqueue_unique(
                task, batch, own=[result], calls=[(args, kwargs)]
            )
            return unique_result
        self._push(task.queue_name, batch)
        if self._enqueued_wanted():
            task_enqueued.send(sender=type(self), task_result=result)
        return result

    def enqueue_many(
        self, task: Any, calls: Iterable[tuple[Sequence[Any], Mapping[str, Any]]]
    ) -> Sequence[TaskResult[Any]]:
        """Queue many calls of one task in one Redis round trip (after commit).

        The results are built when read (``taskqueue.ready.ReadyList``).
        """
        if self._plan(task).unique is not None:
            calls = [(list(a), dict(k)) for a, k in calls]
        results, batch = self._prepare(task, calls)
        if batch.ids and self._plan(task).unique is not None:
            return self._enqueue_unique(task, batch, own=results, calls=calls)
        if batch.ids:
            self._push(task.queue_name, batch)
        if self._enqueued_wanted():
            for result in results:
                task_enqueued.send(sender=type(self), task_result=result)
        return results

    def _enqueue_unique(
        self, task: Any, batch: Outgoing, *,
        own: Sequence[TaskResult[Any]], calls: Any,
    ) -> list[TaskResult[Any]]:  # fmt: skip
        """Push what no other task holds (at once: see taskqueue/unique.py)."""
        limits = self._plan(task).unique
        assert limits is not None  # noqa: S101 (the callers checked)
        holders = unique.enqueue(
            self.broker, task.queue_name, batch, limits=limits, calls=calls
        )
        results = unique.results(own, holders, self.get_result)
        if self._enqueued_wanted():
            for result, holder in zip(own, holders, strict=True):
                if holder == result.id:
                    task_enqueued.send(sender=type(self), task_result=result)
        return results

    def _enqueued_wanted(self) -> bool:
        """Is task_enqueued worth sending (more than Django's silent log receiver)?"""
        return self._enqueued_gate.wanted()

    def get_result(self, result_id: str) -> TaskResult[Any]:
        """The stored result; TaskResultDoesNotExist when there is none to show.

        Reading is total: a record whose message cannot name a registered
        task, or whose status is unknown, is "does not exist" for the Tasks
        API (the JSON API still shows it); a queue that is no longer
        configured falls back to the task's own queue.
        """
        stored = (
            self.broker.result_record(result_id, self.queue_names)
            if result_id
            else None
        )
        record = ResultRecord.parse(*stored) if stored is not None else None
        if record is None or not record.has_message:
            raise TaskResultDoesNotExist(result_id)
        path = record.task_path
        task = (
            registry.tasks(self.config.task_modules).get(path)
            if path is not None
            else None
        )
        if task is None:
            stored = record.envelope.get("task")  # as stored, whatever it is
            raise TaskResultDoesNotExist(
                f"{result_id} (task {stored!r} is not registered)"
            )
        try:
            return record.task_result(
                result_id, task=self._bind(task, record), alias=self.alias
            )
        except UnreadableRecord as exc:
            raise TaskResultDoesNotExist(f"{result_id} ({exc})") from None

    def _bind(self, task: Any, record: ResultRecord) -> Any:
        """The task as it was queued (queue, priority), where that is still valid."""
        queue, priority = record.queue_name, record.priority
        changes: dict[str, Any] = {"backend": self.alias}
        if queue is not None and queue in self.queue_names:
            changes["queue_name"] = queue
        if priority is not None:
            changes["priority"] = priority
        try:
            return task.using(**changes)
        except (InvalidTask, ValueError, TypeError):
            return task.using(backend=self.alias)

    def _prepare(
        self, task: Any, calls: Iterable[tuple[Sequence[Any], Mapping[str, Any]]]
    ) -> tuple[ReadyList, Outgoing]:
        """Validate and encode calls of one task: results to return, messages to push.

        Everything the calls share (validation, the envelope's fixed fields,
        the time, the delay) is done once per task or per call of this
        method; per task call only the id's slice and the arguments' JSON
        remain, and the TaskResults are built only if read.
        """
        plan = self._plan(task)
        calls = calls if isinstance(calls, Sequence) else list(calls)
        now = time.time()
        stamp, message = orjson.dumps(now), plan.message
        id_block = urandom(16 * len(calls)).hex()
        ids: list[str] = []
        raws: list[bytes] = []
        arg_lists: list[list[Any]] = []
        kwarg_dicts: list[dict[str, Any]] = []
        with _collector_paused():
            for start, (call_args, call_kwargs) in zip(
                range(0, 32 * len(calls), 32), calls, strict=True
            ):
                args, kwargs = list(call_args), dict(call_kwargs)
                task_id = id_block[start : start + 32]
                raws.append(message(task_id, args, kwargs, stamp=stamp))
                ids.append(task_id)
                arg_lists.append(args)
                kwarg_dicts.append(kwargs)
        if tracing.enabled():  # the active span's context, for the worker's span
            raws = tracing.stamp(raws, task=task, ids=ids, limit=plan.limit)
        ready = ReadyList(
            plan.ready, ids, args=arg_lists, kwargs=kwarg_dicts,
            enqueued_at=datetime.fromtimestamp(now, tz=UTC),
        )  # fmt: skip
        return ready, Outgoing(ids, raws, task.priority, _delay(task, now))

    def _plan(self, task: Any) -> _TaskPlan:
        """Django's validation, registration and the fixed parts, once per task object."""
        # Keyed by id(): the plan holds the task, so the id cannot be reused.
        plan = self._plans.get(id(task))
        if plan is None:
            self.validate_task(task)
            registry.register(task)
            if len(self._plans) > 1000:  # many one-off .using(run_after=...) tasks
                self._plans.clear()
            plan = self._plans[id(task)] = _TaskPlan(
                task=task,
                encoder=CallEncoder(
                    task=task.module_path, queue=task.queue_name, backend=self.alias,
                    priority=task.priority,
                ),
                ready=ReadyResults(task, self.alias),
                limit=self.config.max_message_bytes,
                metadata_json=_metadata_json(task),
                unique=_unique_limits(task, self.config),
            )  # fmt: skip
        return plan

    def _push(self, queue: str, batch: Outgoing) -> None:
        push = partial(self.broker.enqueue, queue, batch)
        if self.config.enqueue_on_commit:
            transaction.on_commit(push)
        else:
            push()


def _metadata_json(task: Any) -> bytes:
    """The JSON of the task's metadata (#141); b"" when it has none."""
    metadata = getattr(task, "metadata", None)  # a plain Django Task has none
    return task_metadata.encode(metadata) if metadata else b""


def _with_metadata(result: TaskResult[Any], metadata: Any) -> TaskResult[Any]:
    """The READY result of a task with metadata, showing it (#141)."""
    values = {f.name: getattr(result, f.name) for f in fields(result) if f.init}
    return task_metadata.MetadataTaskResult(metadata=dict(metadata), **values)


def _unique_limits(task: Any, config: QueueOptions) -> taskoptions.TaskLimits | None:
    """The task's limits when it is a unique task (None for nearly every task)."""
    limits = taskoptions.limits_for(task.module_path, task.func, config.task_options)
    return limits if limits is not None and limits.unique_for else None


def _delay(task: Any, now: float) -> float:
    """Seconds until the task's run_after (0: at once)."""
    if task.run_after is None:
        return 0.0
    return max(0.0, float(task.run_after.timestamp() - now))


class _Ids(threading.local):
    """Random bytes for task ids, drawn 32 ids per system call, per thread."""

    def __init__(self) -> None:
        self.block, self.used, self.pid = "", 0, 0


_IDS = _Ids()


def _task_id() -> str:
    """A random 128-bit hex id, as secrets.token_hex(16) makes.

    Drawn again after a fork, so that processes forked from one parent
    (gunicorn --preload, prefork) never hand out the same buffered ids.
    """
    ids = _IDS
    if ids.used >= len(ids.block) or ids.pid != getpid():
        ids.block, ids.used, ids.pid = urandom(16 * 32).hex(), 0, getpid()
    start = ids.used
    ids.used = start + 32
    return ids.block[start : start + 32]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep Python's cycle collector out of a bulk enqueue's loop.

    The loop allocates thousands of containers that all stay alive (they
    are returned), so collections it triggers find nothing to free, yet each
    full one walks every object of the process: measured, up to a third of
    a 10,000-task enqueue_many. The collector runs again afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
class _TaskPlan:
    """What enqueueing one task object needs, worked out on its first enqueue."""

    task: Any
    encoder: CallEncoder
    ready: ReadyResults
    limit: int  # bytes a message may have
    metadata_json: bytes = b""  # the task's using(metadata=...), if any
    unique: taskoptions.TaskLimits | None = None  # a unique task's options

    def message(
        self, task_id: str, args: list[Any], kwargs: dict[str, Any], *, stamp: bytes
    ) -> bytes:
        """One call's message, or TypeError / ValueError saying why it cannot go."""
        try:
            raw = self.encoder.encode(task_id, args, kwargs, enqueued_at=stamp)
        except TypeError as exc:
            raise TypeError(f"Task arguments must be JSON: {exc}") from None
        if self.metadata_json:
            raw = with_metadata(raw, self.metadata_json)
        by = enqueuer.current()
        if by is not None:
            raw = with_by(raw, by)
        if len(raw) > self.limit:
            raise ValueError(
                f"Task message of {len(raw)} bytes is over the {self.limit}-byte limit"
            )
        return raw


def enqueue_many(
    task: Any, calls: Iterable[tuple[Sequence[Any], Mapping[str, Any]]]
) -> Sequence[TaskResult[Any]]:
    """Bulk-enqueue calls of ``task`` on its backend (one round trip)."""
    backend = task.get_backend()
    if not isinstance(backend, RedisBackend):
        raise InvalidTask(
            f"enqueue_many needs a RedisBackend, not {type(backend).__name__}"
        )
    return backend.enqueue_many(task, calls)


def backend_for(alias: str = DEFAULT_TASK_BACKEND_ALIAS) -> RedisBackend:
    """The RedisBackend configured as ``TASKS[alias]``, for views and commands.

    Raises InvalidBackend (an ImproperlyConfigured; commands show it as a
    one-line error) when there is no such alias, it cannot be built, or it
    is another kind of backend: every caller gets a typed ``Broker``.
    """
    try:
        backend = task_backends[alias]
    except Exception as exc:  # noqa: BLE001 (InvalidTaskBackend spelled two ways)
        raise InvalidBackend(f"unknown task backend {alias!r}: {exc}") from None
    if not isinstance(backend, RedisBackend):
        raise InvalidBackend(f"backend {alias!r} is not a taskqueue RedisBackend")
    return backend
