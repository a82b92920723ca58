"""Executor: turns one claimed message into an Outcome. Never touches Redis.

This is the only place task code runs, and the only ``except Exception``
in the worker: whatever a task raises becomes a Failed or RetryLater.
Database connections are checked before every task (Django's request cycle
does it at each request start and end; between two tasks one check serves
both) and once more when the consumer goes idle (see Consumer.process).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from asgiref.sync import async_to_sync
from django.core.exceptions import ObjectDoesNotExist
from django.db import close_old_connections, connections

from taskqueue import cancellation, results, retry
from taskqueue import metadata as task_metadata
from taskqueue.backends import backend_for
from taskqueue.compat import (
    TaskError,
    TaskResult,
    TaskResultStatus,
    task_finished,
    task_started,
)
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import (
    PermanentError,
    TaskQueueError,
    TimeLimitExceeded,
)
from taskqueue.outcomes import Failed, GiveBack, Outcome, Poison, RetryLater, Succeeded
from taskqueue.protocol import Envelope, dumps_json
from taskqueue.signals import SignalGate, task_result
from taskqueue.worker import alarms, dbhealth, observe
from taskqueue.worker.taskinfo import TaskInfo

log = logging.getLogger("taskqueue.worker")
NOT_SERIALIZABLE = "Task result is not serializable"


class Executor:
    """Runs registered tasks; knows nothing about queues or Redis."""

    def __init__(
        self,
        *,
        tasks: dict[str, Any],
        options: QueueOptions,
        consumer: str,
        alias: str = "default",
    ) -> None:
        self.tasks = tasks
        self.alias = alias
        self.options = options
        self.consumer = consumer
        self._infos: dict[str, TaskInfo] = {}
        self._connections: list[Any] | None = None
        self.has_async = any(
            inspect.iscoroutinefunction(t.func) for t in tasks.values()
        )
        self._gates: dict[tuple[type, int, int], SignalGate] = {}

    def execute(self, envelope: Envelope) -> Outcome:
        """Check the call against the registered task, run it, classify the result."""
        checked = self._check(envelope)
        if isinstance(checked, Poison):
            return checked
        if observe.active():  # a span, a Sentry scope: taskqueue/worker/observe.py
            return observe.run(envelope, lambda: self._run(checked, envelope))
        return self._run(checked, envelope)

    def _info(self, path: str) -> TaskInfo | None:
        info = self._infos.get(path)
        if info is None:
            task = self.tasks.get(path)
            if task is None:
                return None
            info = self._infos[path] = TaskInfo.of(task, self.options)
        return info

    def _run(self, info: TaskInfo, envelope: Envelope) -> Outcome:
        started = time.perf_counter()
        args = envelope.args
        try:
            self.check_connections()
            args = self._arguments(info, envelope, self._started(info, envelope))
            call = info.task.call if info.is_async else info.task.func  # known once
            if info.policy.time_limit or info.policy.soft_timeout:
                with alarms.time_limit(info.policy):
                    value = call(*args, **envelope.kwargs)
            else:
                value = call(*args, **envelope.kwargs)
        except BaseException as exc:  # noqa: BLE001 (the task boundary: SystemExit too)
            if info.takes_context:
                _flush_metadata(args)
            return self._raised(envelope, info, exc, duration=_since(started))
        if info.takes_context:
            _flush_metadata(args)
        return self._success(envelope, value, _since(started))

    def _arguments(
        self, info: TaskInfo, envelope: Envelope, result: TaskResult[Any] | None
    ) -> list[Any]:
        """The positional arguments, behind a TaskContext if the task takes one."""
        if not info.takes_context:
            return envelope.args
        context = task_metadata.context(
            result or self._result(info, envelope), envelope, self._store_metadata
        )
        return [context, *envelope.args]

    def _store_metadata(self, queue: str, task_id: str, encoded: bytes) -> None:
        """Write a running task's metadata to its record (context.save_metadata)."""
        broker = backend_for(self.alias).broker
        broker.save_metadata(queue, task_id, encoded, ttl=self.options.result_ttl)

    def _raised(
        self, envelope: Envelope, info: TaskInfo, exc: BaseException, *, duration: float
    ) -> Outcome:
        """What a task's exception comes to: the one ladder of sync and async runs.

        A missing row or a PermanentError fails at once (expected: a
        warning); a database outage gives the message back unrun; anything
        else is retried per the task's policy (taskqueue/retry.py).
        """
        if isinstance(exc, ObjectDoesNotExist | PermanentError):
            error = results.error_json(exc)
            return Failed(envelope, error, duration, _summary(exc), expected=True)
        if dbhealth.is_outage(exc):
            return GiveBack(envelope, _summary(exc))
        return self._failure(envelope, info, exc=exc, duration=duration)

    def check_connections(self) -> None:
        """Django's close_old_connections(), minus its per-call lookups.

        Run before every task: a connection past CONN_MAX_AGE, or one a
        failed task left unusable, is closed and the next query reopens it.
        Connection objects are per thread, and so is an executor's use of them.
        """
        if self._connections is None:
            self._connections = [connections[alias] for alias in connections]
        for connection in self._connections:
            connection.close_if_unusable_or_obsolete()

    def is_async(self, path: str) -> bool:
        info = self._info(path)
        return info is not None and info.is_async

    def run_async(self, envelopes: list[Envelope]) -> list[Outcome]:
        """Run async tasks together on one event loop; outcomes in the same order.

        A coroutine that awaits I/O lets the others run, so a batch of async
        tasks takes about as long as its slowest one, in any pool. The loop
        is Django's (async_to_sync), so thread-sensitive ORM calls made with
        sync_to_async come back to this thread and its DB connections.
        """
        close_old_connections()

        async def run_all() -> list[Outcome]:
            run = observe.wrap_async(self._arun) if observe.active() else self._arun
            return list(await asyncio.gather(*(run(e) for e in envelopes)))

        return async_to_sync(run_all)()

    async def _arun(self, envelope: Envelope) -> Outcome:
        checked = self._check(envelope)
        if isinstance(checked, Poison):
            return checked
        info, started = checked, time.perf_counter()
        try:
            value = await self._await_task(info, envelope)
        except BaseException as exc:  # noqa: BLE001 (the task boundary: SystemExit too)
            limit = alarms.async_limit(info.policy)
            if isinstance(exc, TimeoutError) and limit and _since(started) >= limit:
                exc = alarms.timeout_error(info.policy)
            return self._raised(envelope, info, exc, duration=_since(started))
        return self._success(envelope, value, _since(started))

    async def _await_task(self, info: TaskInfo, envelope: Envelope) -> Any:
        args = self._arguments(info, envelope, self._started(info, envelope))
        coroutine = info.task.func(*args, **envelope.kwargs)
        limit, started = alarms.async_limit(info.policy), time.perf_counter()
        cancellation.on_cancel(envelope.id, _canceller())  # CancelledError on cancel()
        try:
            value = await asyncio.wait_for(coroutine, limit)
        finally:
            cancellation.on_cancel(envelope.id, None)
            if info.takes_context:
                _flush_metadata(args)
        if limit and time.perf_counter() - started > limit:  # it swallowed the cancel
            raise alarms.timeout_error(info.policy)
        return value

    def _check(self, envelope: Envelope) -> TaskInfo | Poison:
        """The task's info, or the Poison outcome for an unknown task or bad arguments."""
        info = self._info(envelope.task)
        if info is None:
            return Poison(
                f"unknown task {envelope.task[:200]!r}", envelope.id, envelope
            )
        problem = info.argument_problem(envelope.args, envelope.kwargs)
        if problem:
            return Poison(
                f"bad arguments for {envelope.task}: {problem}", envelope.id, envelope
            )
        return info

    def time_limit(self, path: str) -> float | None:
        info = self._info(path)
        return None if info is None else info.policy.time_limit

    def limits(self, path: str) -> tuple[float | None, float | None]:
        """A task's (soft_timeout, timeout): what the threads pool enforces."""
        info = self._info(path)
        if info is None:
            return None, None
        return info.policy.soft_timeout, info.policy.time_limit

    def any_limits(self) -> bool:
        """Does any registered task have a timeout (soft or hard)?"""
        return any(any(self.limits(path)) for path in self.tasks)

    def timed_out(self, envelope: Envelope, duration: float) -> Failed | RetryLater:
        """The outcome of a task stopped from outside for running past its limit."""
        info = self._info(envelope.task)
        limit = info.policy.time_limit if info else None
        exc = TimeLimitExceeded(f"task ran over its {limit or 0:g}s time limit")
        if info is None:
            return Failed(envelope, results.error_json(exc), duration, str(exc))
        return self._failure(envelope, info, exc=exc, duration=duration)

    def _started(self, info: TaskInfo, envelope: Envelope) -> TaskResult[Any] | None:
        if not self._wanted(task_started, info.sender, logging.INFO):
            return None
        result = self._result(info, envelope)
        task_started.send(sender=info.sender, task_result=result)
        return result

    def _wanted(self, signal_: Any, sender: type, level: int) -> bool:
        key = (sender, id(signal_), level)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = SignalGate(signal_, sender, level)
        return gate.wanted()

    def _success(self, envelope: Envelope, value: Any, duration: float) -> Outcome:
        """Succeeded, or Failed with a TypeError (and its traceback) if not JSON.

        A value that is not JSON is the task's bug, not a passing error, so
        it is not retried (as Django's ImmediateBackend records it).
        """
        try:
            return Succeeded(envelope, dumps_json(value), duration)
        except BaseException as exc:  # noqa: BLE001 (a value's __repr__ may raise anything)
            error = _not_serializable(exc)
            observe.failed(envelope, error)
            return Failed(envelope, results.error_json(error), duration, str(error))

    def _failure(
        self, envelope: Envelope, info: TaskInfo, *, exc: BaseException, duration: float
    ) -> Failed | RetryLater:
        error_json = results.error_json(exc)
        outcome = retry.after_failure(
            envelope, exc, info.policy, error_json=error_json,
            duration=duration, summary=_summary(exc),
            failed_result=lambda: self._failed_result(info, envelope, error_json),
        )  # fmt: skip
        if isinstance(outcome, Failed):
            observe.failed(
                envelope, exc
            )  # Sentry, when set up: a FAILED task's exception
        return outcome

    def finished(self, outcome: Outcome) -> None:
        """Send task_finished for a final outcome (called once it is stored)."""
        if not isinstance(outcome, Succeeded | Failed):
            return
        info = self._info(outcome.envelope.task)
        failed = isinstance(outcome, Failed)
        level = logging.ERROR if failed else logging.INFO
        if info is None or not self._wanted(task_finished, info.sender, level):
            return
        result = self._result(info, outcome.envelope)
        object.__setattr__(result, "finished_at", datetime.now(tz=UTC))
        if isinstance(outcome, Failed):
            object.__setattr__(result, "status", TaskResultStatus.FAILED)
            error = orjson.loads(outcome.error_json)
            result.errors.append(
                TaskError(
                    exception_class_path=error["class"], traceback=error["traceback"]
                )
            )
        else:
            object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
            object.__setattr__(
                result, "_return_value", orjson.loads(outcome.value_json)
            )
        task_finished.send(sender=info.sender, task_result=result)

    def _failed_result(
        self, info: TaskInfo, envelope: Envelope, error_json: bytes
    ) -> TaskResult[Any]:
        """The TaskResult after this failed attempt: what a #142 backoff is given.

        FAILED, its errors those stored so far plus this one, one worker id
        per attempt run; the earlier errors are read from the record.
        """
        result = self._result(info, envelope)
        errors = [*self._stored_errors(envelope), orjson.loads(error_json)]
        object.__setattr__(result, "status", TaskResultStatus.FAILED)
        object.__setattr__(result, "finished_at", datetime.now(tz=UTC))
        object.__setattr__(
            result, "errors",
            [TaskError(exception_class_path=e["class"], traceback=e["traceback"])
             for e in errors],
        )  # fmt: skip
        return result

    def _stored_errors(self, envelope: Envelope) -> list[dict[str, Any]]:
        if envelope.attempt == 1:
            return []
        try:
            stored = backend_for(self.alias).broker.result_record(
                envelope.id, [envelope.queue]
            )
        except TaskQueueError:
            return []
        record = results.ResultRecord.parse(*stored) if stored else None
        return [
            {"class": e.exception_class or "", "traceback": e.traceback}
            for e in (record.errors if record else ())
        ]

    def _result(self, info: TaskInfo, envelope: Envelope) -> TaskResult[Any]:
        now = datetime.now(tz=UTC)
        return task_result(
            task=info.task, id=envelope.id, status=TaskResultStatus.RUNNING,
            enqueued_at=datetime.fromtimestamp(envelope.enqueued_at, tz=UTC),
            started_at=now, finished_at=None, last_attempted_at=now,
            args=envelope.args, kwargs=envelope.kwargs, backend=envelope.backend,
            errors=[], worker_ids=[self.consumer] * envelope.attempt,
        )  # fmt: skip


def _not_serializable(cause: BaseException) -> TypeError:
    """A raised TypeError (so it has a traceback) saying the result is not JSON."""
    try:
        raise TypeError(f"{NOT_SERIALIZABLE}: {cause}") from cause
    except TypeError as error:
        return error


def _flush_metadata(args: list[Any]) -> None:
    """Save a context's metadata if the task changed it and did not save it."""
    context = args[0] if args else None
    if isinstance(context, task_metadata.MetadataContext):
        context.publisher.flush(context.metadata)


def _since(started: float) -> float:
    return time.perf_counter() - started


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _canceller() -> Callable[[], None]:
    """Cancel the running asyncio task from another thread (the cancel watch)."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()

    def cancel() -> None:
        if task is not None:
            loop.call_soon_threadsafe(task.cancel)

    return cancel
