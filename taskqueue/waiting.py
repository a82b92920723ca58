"""``wait()``: the finished TaskResult as soon as it is stored, without polling.

The waiter blocks on a per-task key that the settle script signals in the
same atomic step that stores the outcome (``taskqueue/store/waiting.py``,
``lua/settle_notify.lua``); a settle nobody waits on costs one in-script
``EXISTS``. The JSON API's ``?wait=`` long-poll uses ``wait_until_final``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from asgiref.sync import sync_to_async

from taskqueue.backends import RedisBackend, backend_for
from taskqueue.compat import (
    DEFAULT_TASK_BACKEND_ALIAS,
    TaskResult,
    TaskResultDoesNotExist,
)
from taskqueue.exceptions import WaitTimeout
from taskqueue.store.waiting import Waiting

FINAL = frozenset({"SUCCESSFUL", "FAILED"})


def wait(result_or_id: TaskResult[Any] | str, timeout: float) -> TaskResult[Any]:
    """The task's TaskResult once it is SUCCESSFUL or FAILED.

    Returns at once for a finished task; raises ``WaitTimeout`` (a
    ``TimeoutError``) if it has not finished within ``timeout`` seconds,
    ``TaskResultDoesNotExist`` for an id no queue knows (e.g. an enqueue
    still waiting for its transaction to commit), ``ValueError`` for a
    timeout that is not a finite number >= 0, ``BrokerUnavailable`` if
    Redis cannot be reached.
    """
    seconds = checked_timeout(timeout)
    task_id, alias, hint = _target(result_or_id)
    backend = backend_for(alias)
    queue = find_queue(backend, task_id, hint)
    if queue is None:
        raise TaskResultDoesNotExist(task_id)
    if not wait_until_final(backend.broker, queue, task_id, seconds=seconds):
        raise WaitTimeout(f"task {task_id} did not finish within {seconds:g}s")
    return backend.get_result(task_id)


async def async_wait(
    result_or_id: TaskResult[Any] | str, timeout: float
) -> TaskResult[Any]:
    """``wait()`` for async code: the blocking wait runs in a worker thread."""
    return await sync_to_async(wait, thread_sensitive=False)(result_or_id, timeout)


def wait_until_final(
    broker: Waiting, queue: str, task_id: str, *, seconds: float
) -> bool:
    """Block until the task's record is final (True) or ``seconds`` pass (False).

    Counts this waiter in and reads the status in one script, blocks on the
    token the settle pushes, counts out and reads the status again: a
    settle at any moment is seen by one of the two reads.
    """
    deadline = time.monotonic() + seconds
    while True:
        status = broker.count_waiter(queue, task_id, delta=1)
        try:
            left = deadline - time.monotonic()
            if status not in FINAL and left > 0:
                broker.block_on_task(queue, task_id, left)
        finally:
            status = broker.count_waiter(queue, task_id, delta=-1)
        if status in FINAL:
            return True
        if time.monotonic() >= deadline:
            return False


def checked_timeout(value: Any) -> float:
    """Seconds to wait, or ValueError saying what a timeout must be."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"timeout must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"timeout must be a finite number >= 0, not {value!r}")
    return float(value)


def find_queue(backend: RedisBackend, task_id: str, hint: str | None) -> str | None:
    """The configured queue that holds the task's record or READY entry."""
    names: list[str] = list(backend.queue_names)
    if hint is not None and hint in names:
        names = [hint, *(n for n in names if n != hint)]
    for name in names:
        if backend.broker.result_record(task_id, [name]) is not None:
            return name
    return None


def _target(result_or_id: TaskResult[Any] | str) -> tuple[str, str, str | None]:
    """(task id, backend alias, queue name if known) of what ``wait`` was given."""
    if isinstance(result_or_id, str):
        return result_or_id, DEFAULT_TASK_BACKEND_ALIAS, None
    if isinstance(result_or_id, TaskResult):
        queue: str | None = getattr(result_or_id.task, "queue_name", None)
        return result_or_id.id, result_or_id.backend, queue
    raise TypeError(f"wait() takes a TaskResult or a task id, not {result_or_id!r}")
