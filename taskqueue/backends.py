"""RedisBackend: Django's Tasks API on a Redis list.

``enqueue`` validates, serializes to JSON and pushes one message (after the
surrounding transaction commits); ``enqueue_many`` pushes any number in one
round trip; ``get_result`` reads the result record from any process.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from taskqueue import registry, results
from taskqueue.broker import Broker
from taskqueue.compat import (
    DEFAULT_TASK_QUEUE_NAME,
    BaseTaskBackend,
    InvalidTask,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from taskqueue.conf import QueueOptions
from taskqueue.protocol import Envelope, dumps_json
from taskqueue.worker.signals import needs_sending, task_result

Item = tuple[str, int, float, int, bytes]


class RedisBackend(BaseTaskBackend):
    """A Django Tasks backend whose queue is a Redis list (see docs/protocol.md)."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.config = QueueOptions.from_options(self.options)
        self.queue_names = list(
            dict.fromkeys(params.get("QUEUES") or [DEFAULT_TASK_QUEUE_NAME])
        )
        self._broker: Broker | None = None
        self._validated: dict[int, Any] = {}
        self._enqueued_receivers = -1
        self._send_enqueued = True

    @property
    def broker(self) -> Broker:
        """The backend's broker, connected on first use (never at import)."""
        if self._broker is None:
            self._broker = Broker.connect(
                self.config.redis_url,
                embedded_dir=self.config.embedded_dir,
                prefix=self.config.key_prefix,
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
        result, item = self._prepare(task, args, kwargs)
        self._push(task.queue_name, [item])
        self._enqueued(result)
        return result

    def enqueue_many(
        self, task: Any, calls: Iterable[tuple[Sequence[Any], Mapping[str, Any]]]
    ) -> list[TaskResult[Any]]:
        """Queue many calls of one task in one Redis round trip (after commit)."""
        prepared = [self._prepare(task, args, kwargs) for args, kwargs in calls]
        if prepared:
            self._push(task.queue_name, [item for _, item in prepared])
        for result, _ in prepared:
            self._enqueued(result)
        return [result for result, _ in prepared]

    def _enqueued(self, result: TaskResult[Any]) -> None:
        """Send task_enqueued, unless only Django's silent log receiver would get it.

        Decided again whenever the receivers change (tests connect some late).
        """
        receivers = len(task_enqueued.receivers)
        if self._enqueued_receivers != receivers:
            self._enqueued_receivers = receivers
            self._send_enqueued = needs_sending(
                task_enqueued, type(self), logging.DEBUG
            )
        if self._send_enqueued:
            task_enqueued.send(sender=type(self), task_result=result)

    def get_result(self, result_id: str) -> TaskResult[Any]:
        record = (
            self.broker.result_record(result_id, self.queue_names)
            if result_id
            else None
        )
        if record is None or b"msg" not in record:
            raise TaskResultDoesNotExist(result_id)
        path = _task_path(record[b"msg"])
        task = registry.tasks(self.config.task_modules).get(path)
        if task is None:
            raise TaskResultDoesNotExist(
                f"{result_id} (task {path!r} is not registered)"
            )
        envelope = _envelope_fields(record[b"msg"])
        bound = task.using(
            queue_name=envelope["queue"], priority=envelope["p"], backend=self.alias
        )
        return results.build(result_id, record, task=bound, alias=self.alias)

    def _prepare(
        self, task: Any, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[TaskResult[Any], Item]:
        # Keyed by id(): the dict holds the task, so the id cannot be reused.
        if id(task) not in self._validated:
            self.validate_task(task)
            if len(self._validated) > 1000:  # many one-off .using(run_after=...) tasks
                self._validated.clear()
            self._validated[id(task)] = task
            registry.register(task)
        args, kwargs = list(args), dict(kwargs)
        if args or kwargs:
            try:
                dumps_json([args, kwargs])
            except TypeError as exc:
                raise TypeError(f"Task arguments must be JSON: {exc}") from None
        now = time.time()
        task_id = secrets.token_hex(16)
        envelope = Envelope(
            id=task_id, task=task.module_path, args=args, kwargs=kwargs,
            queue=task.queue_name, backend=self.alias, priority=task.priority,
            enqueued_at=now,
        )  # fmt: skip
        raw = envelope.encode()
        if len(raw) > self.config.max_message_bytes:
            raise ValueError(
                f"Task message of {len(raw)} bytes is over the "
                f"{self.config.max_message_bytes}-byte limit"
            )
        delay = 0.0
        if task.run_after is not None:
            delay = max(0.0, task.run_after.timestamp() - now)
        # Scalars need none of TaskResult's JSON normalisation: skip it then.
        build = task_result if _scalars(args, kwargs) else TaskResult
        result: TaskResult[Any] = build(
            task=task, id=task_id, status=TaskResultStatus.READY,
            enqueued_at=datetime.fromtimestamp(now, tz=UTC), started_at=None,
            finished_at=None, last_attempted_at=None, args=args, kwargs=kwargs,
            backend=self.alias, errors=[], worker_ids=[],
        )  # fmt: skip
        return result, (task_id, task.priority, delay, self.config.result_ttl, raw)

    def _push(self, queue: str, items: list[Item]) -> None:
        push = partial(self.broker.enqueue, queue, items)
        if self.config.enqueue_on_commit:
            transaction.on_commit(push)
        else:
            push()


SCALARS = (str, int, float, bool, type(None))


def _scalars(args: list[Any], kwargs: dict[str, Any]) -> bool:
    return all(type(a) in SCALARS for a in args) and all(
        type(v) in SCALARS for v in kwargs.values()
    )


def _envelope_fields(raw: bytes) -> dict[str, Any]:
    import orjson

    value: dict[str, Any] = orjson.loads(raw)
    return value


def _task_path(raw: bytes) -> str:
    return str(_envelope_fields(raw)["task"])


def enqueue_many(
    task: Any, calls: Iterable[tuple[Sequence[Any], Mapping[str, Any]]]
) -> list[TaskResult[Any]]:
    """Bulk-enqueue calls of ``task`` on its backend (one round trip)."""
    backend = task.get_backend()
    if not isinstance(backend, RedisBackend):
        raise InvalidTask(
            f"enqueue_many needs a RedisBackend, not {type(backend).__name__}"
        )
    return backend.enqueue_many(task, calls)
