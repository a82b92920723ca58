"""Retry a finished task by hand: a new task, same call, linked both ways.

What the task page's Retry button does. Only a task path found in the task
registry is enqueued (looked up in its dict, never imported: a message is
anyone's to write), with the stored arguments, queue and priority; the
record of the old task names the new one (``retried_as:<id>``) and the new
one's names the old (``retry_of``), see taskqueue/store/retries.py.
"""

from __future__ import annotations

from typing import Any

from taskqueue import registry
from taskqueue.compat import (
    DEFAULT_TASK_BACKEND_ALIAS,
    TaskResultDoesNotExist,
    TaskResultStatus,
)
from taskqueue.protocol import ID_RE
from taskqueue.results import ResultRecord

FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


class NotRetryable(ValueError):
    """The stored task cannot be enqueued again (unknown path, unreadable call)."""


def retry(task_id: str, *, alias: str = DEFAULT_TASK_BACKEND_ALIAS) -> Any:
    """Enqueue a copy of task ``task_id``; returns its TaskResult.

    Only a finished task (SUCCESSFUL or FAILED) is retried. Raises
    TaskResultDoesNotExist (unknown or expired id), NotRetryable,
    BrokerUnavailable (Redis down).
    """
    if not ID_RE.fullmatch(task_id):
        raise TaskResultDoesNotExist(task_id)
    from taskqueue.backends import backend_for  # the app registry is ready by now

    backend = backend_for(alias)
    stored = backend.broker.result_record(task_id, backend.queue_names)
    if stored is None:
        raise TaskResultDoesNotExist(task_id)
    record = ResultRecord.parse(*stored)
    if record.status not in FINISHED:  # a second copy of a live task: cancel it first
        raise NotRetryable("it has not finished")
    task = _registered(record, backend.config.task_modules)
    queue = record.queue_name if record.queue_name in backend.queue_names else None
    changes: dict[str, Any] = {"backend": alias}
    if queue is not None:
        changes["queue_name"] = queue
    if record.priority is not None:
        changes["priority"] = record.priority
    try:
        result = task.using(**changes).enqueue(*record.args, **record.kwargs)
    except (TypeError, ValueError) as exc:  # the stored call no longer fits the task
        raise NotRetryable(f"cannot enqueue {record.task_path}: {exc}") from None
    old_queue = _queue_of(backend, task_id, queue)
    backend.broker.link_retry(
        (old_queue, task_id), (result.task.queue_name, result.id),
        ttl=backend.config.result_ttl,
    )  # fmt: skip
    return result


def _registered(record: ResultRecord, extra_modules: Any) -> Any:
    path = record.task_path
    task = registry.tasks(extra_modules).get(path) if path is not None else None
    if task is None:
        raise NotRetryable(f"task {path!r} is not registered here")
    if "args" in record.unreadable or "kwargs" in record.unreadable:
        raise NotRetryable("its stored arguments are unreadable")
    return task


def _queue_of(backend: Any, task_id: str, queue: str | None) -> str:
    """The queue that holds the old record (its own queue, else the first that has it)."""
    if queue is not None:
        return queue
    for name in backend.queue_names:
        if backend.broker.result_record(task_id, [name]) is not None:
            return str(name)
    return str(backend.queue_names[0])
