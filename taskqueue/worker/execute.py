"""Executor: turns one claimed message into an Outcome. Never touches Redis.

This is the only place task code runs, and the only ``except Exception``
in the worker: whatever a task raises becomes a Failed or RetryLater.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import orjson
from django.core.exceptions import ObjectDoesNotExist
from django.db import close_old_connections

from taskqueue import results
from taskqueue.compat import (
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultStatus,
    task_finished,
    task_started,
)
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import PermanentError, PoisonMessage, TimeLimitExceeded
from taskqueue.policy import TaskPolicy, policy_for
from taskqueue.protocol import Envelope, dumps_json
from taskqueue.retry import backoff
from taskqueue.worker.outcomes import Failed, Outcome, Poison, RetryLater, Succeeded

log = logging.getLogger("taskqueue.worker")
NOT_SERIALIZABLE = "Task result is not serializable"
SIMPLE_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,), float: (int, float), str: (str,), bool: (bool,),
    list: (list,), dict: (dict,),
}  # fmt: skip
SIMPLE_TYPES.update(
    {kind.__name__: types for kind, types in list(SIMPLE_TYPES.items())}
)


class Executor:
    """Runs registered tasks; knows nothing about queues or Redis."""

    def __init__(
        self, *, tasks: dict[str, Any], options: QueueOptions, consumer: str
    ) -> None:
        self.tasks = tasks
        self.options = options
        self.consumer = consumer
        self._signatures: dict[str, tuple[inspect.Signature, TaskPolicy]] = {}
        self.in_main_thread = threading.current_thread() is threading.main_thread()

    def adopt_legacy(self, envelope: Envelope, raw: bytes) -> Envelope:
        """Turn an original-system payload into an envelope for LEGACY_TASK."""
        if not self.options.legacy_task:
            raise PoisonMessage("legacy message, but no LEGACY_TASK is configured", raw)
        return Envelope(
            id=secrets.token_hex(16), task=self.options.legacy_task, args=[],
            kwargs=envelope.kwargs, queue=envelope.queue, enqueued_at=time.time(),
        )  # fmt: skip

    def execute(self, envelope: Envelope) -> Outcome:
        """Check the call against the registered task, run it, classify the result."""
        task = self.tasks.get(envelope.task)
        if task is None:
            return Poison(f"unknown task {envelope.task!r}", envelope.id)
        signature, policy = self._inspect(envelope.task, task)
        problem = check_arguments(signature, task.takes_context, envelope)
        if problem:
            return Poison(f"bad arguments for {envelope.task}: {problem}", envelope.id)
        return self._run(task, policy, envelope)

    def _inspect(self, path: str, task: Any) -> tuple[inspect.Signature, TaskPolicy]:
        cached = self._signatures.get(path)
        if cached is None:
            cached = (inspect.signature(task.func), policy_for(task.func, self.options))
            self._signatures[path] = cached
        return cached

    def _run(self, task: Any, policy: TaskPolicy, envelope: Envelope) -> Outcome:
        started = time.perf_counter()
        result = self._task_result(task, envelope)
        close_old_connections()
        try:
            task_started.send(sender=type(task.get_backend()), task_result=result)
            with self._time_limit(policy.time_limit):
                if task.takes_context:
                    value = task.call(
                        TaskContext(task_result=result),
                        *envelope.args,
                        **envelope.kwargs,
                    )
                else:
                    value = task.call(*envelope.args, **envelope.kwargs)
        except (ObjectDoesNotExist, PermanentError) as exc:
            return Failed(
                envelope,
                results.error_json(exc),
                _since(started),
                _summary(exc),
                expected=True,
            )
        except Exception as exc:  # noqa: BLE001 (the task boundary: any error is an outcome)
            return self._failure(envelope, policy, exc=exc, duration=_since(started))
        finally:
            close_old_connections()
        return self._success(envelope, value, _since(started))

    def _success(self, envelope: Envelope, value: Any, duration: float) -> Outcome:
        try:
            return Succeeded(envelope, dumps_json(value), duration)
        except TypeError as exc:
            error = results.reason_json(
                "taskqueue.exceptions.ResultNotSerializable",
                f"{NOT_SERIALIZABLE}: {exc}",
            )
            return Failed(envelope, error, duration, NOT_SERIALIZABLE)

    def _failure(
        self, envelope: Envelope, policy: TaskPolicy, *, exc: Exception, duration: float
    ) -> Outcome:
        error = results.error_json(exc)
        if envelope.attempt <= policy.max_retries:
            delay = backoff(
                envelope.attempt, policy.retry_backoff, policy.retry_backoff_max
            )
            return RetryLater(envelope, error, delay, _summary(exc))
        return Failed(envelope, error, duration, _summary(exc))

    def finished(self, outcome: Outcome) -> None:
        """Send task_finished for a final outcome (called once it is stored)."""
        if isinstance(outcome, Succeeded):
            status, value = TaskResultStatus.SUCCESSFUL, outcome.value_json
        elif isinstance(outcome, Failed):
            status, value = TaskResultStatus.FAILED, None
        else:
            return
        task = self.tasks[outcome.envelope.task]
        result = self._task_result(task, outcome.envelope)
        object.__setattr__(result, "status", status)
        object.__setattr__(result, "finished_at", datetime.now(tz=UTC))
        if isinstance(outcome, Failed):
            error = orjson.loads(outcome.error_json)
            result.errors.append(
                TaskError(
                    exception_class_path=error["class"], traceback=error["traceback"]
                )
            )
        elif value is not None:
            object.__setattr__(result, "_return_value", orjson.loads(value))
        task_finished.send(sender=type(task.get_backend()), task_result=result)

    def _task_result(self, task: Any, envelope: Envelope) -> TaskResult[Any]:
        now = datetime.now(tz=UTC)
        return TaskResult(
            task=task, id=envelope.id, status=TaskResultStatus.RUNNING,
            enqueued_at=datetime.fromtimestamp(envelope.enqueued_at, tz=UTC),
            started_at=now, finished_at=None, last_attempted_at=now,
            args=envelope.args, kwargs=envelope.kwargs, backend=envelope.backend,
            errors=[], worker_ids=[self.consumer] * envelope.attempt,
        )  # fmt: skip

    @contextmanager
    def _time_limit(self, seconds: float | None) -> Iterator[None]:
        """SIGALRM-based hard limit; only the main thread can receive it."""
        if not seconds or not self.in_main_thread:
            yield
            return

        def expire(signum: int, frame: FrameType | None) -> None:
            raise TimeLimitExceeded(f"task ran over its {seconds:g}s time limit")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def check_arguments(
    signature: inspect.Signature, takes_context: bool, envelope: Envelope
) -> str:
    """Why these arguments cannot call the task ('' when they can)."""
    args: list[Any] = [None, *envelope.args] if takes_context else envelope.args
    try:
        bound = signature.bind(*args, **envelope.kwargs)
    except TypeError as exc:
        return str(exc)
    for name, value in bound.arguments.items():
        expected = SIMPLE_TYPES.get(signature.parameters[name].annotation)
        if name == "context" and takes_context:
            continue
        if expected and (
            not isinstance(value, expected) or _bool_for_number(value, expected)
        ):
            annotation = signature.parameters[name].annotation
            return (
                f"{name}={value!r} is not {getattr(annotation, '__name__', annotation)}"
            )
    return ""


def _bool_for_number(value: Any, expected: tuple[type, ...]) -> bool:
    return isinstance(value, bool) and bool not in expected


def _since(started: float) -> float:
    return time.perf_counter() - started


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
