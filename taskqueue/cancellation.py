"""Cancelling tasks: ``cancel()`` for callers, ``cancel_requested()`` for tasks.

A task still waiting (pending, scheduled, or waiting for a retry) is taken
out of its queue and recorded FAILED with a ``TaskCancelled`` error, in one
script (lua/cancel.lua). A task a worker has already claimed, in a batch or
running, is flagged in its queue's cancel hash: the worker never starts it,
or asks it to stop (``cancel_requested`` turns true, an async task gets
``asyncio.CancelledError``), or with ``terminate`` replaces the prefork
child running it. Django has no CANCELLED status: the result is FAILED.

The worker side (taskqueue/worker/cancels.py) tells this module which
tasks of its process are cancelled; nothing here imports the worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from taskqueue.compat import DEFAULT_TASK_BACKEND_ALIAS, TaskResultDoesNotExist
from taskqueue.exceptions import TaskCancelled
from taskqueue.protocol import ID_RE
from taskqueue.results import reason_json

CANCELLED_CLASS = f"{TaskCancelled.__module__}.{TaskCancelled.__qualname__}"
STOP, TERMINATE = "stop", "terminate"


def cancel(
    task_id: str, *, terminate: bool = False, alias: str = DEFAULT_TASK_BACKEND_ALIAS
) -> bool:
    """Cancel a task that has not finished; False if it already had.

    True means it will never start, or (running) it has been asked to stop,
    or with ``terminate`` its prefork child will be stopped; its result
    ends FAILED with a TaskCancelled error either way. Raises ValueError
    for a string that cannot be a task id, TaskResultDoesNotExist for an
    unknown one, BrokerUnavailable when Redis is down.
    """
    if not isinstance(task_id, str) or not ID_RE.fullmatch(task_id):
        raise ValueError(f"{str(task_id)[:80]!r} is not a task id")
    from taskqueue.backends import backend_for  # the app registry is ready by now

    backend = backend_for(alias)
    error = reason_json(CANCELLED_CLASS, "cancelled before it started")
    for queue in backend.queue_names:
        state = backend.broker.cancel(
            queue, task_id, mode=TERMINATE if terminate else STOP,
            ttl=backend.config.result_ttl, error=error,
        )  # fmt: skip
        if state != "unknown":
            return state != "finished"
    raise TaskResultDoesNotExist(task_id)


def cancel_requested(context: Any) -> bool:
    """True once the running task of ``context`` (a TaskContext) is cancelled.

    Cheap enough to call in a loop: a dictionary lookup. It turns true
    within a second of ``cancel()``; a task that sees it should clean up and
    return (or raise): its result is FAILED/TaskCancelled whatever it does.
    Also takes a task id or a TaskResult.
    """
    task_id = getattr(getattr(context, "task_result", context), "id", context)
    return isinstance(task_id, str) and task_id in _requested


# What the worker of this process knows to be cancelled (task id -> mode),
# replaced whole by the worker's cancel watch, and the async tasks to cancel.
_requested: dict[str, str] = {}
_on_cancel: dict[str, Callable[[], None]] = {}
_lock = threading.Lock()


def requested(task_id: str) -> str | None:
    """The cancel mode of a task of this process ('stop', 'terminate') or None."""
    return _requested.get(task_id)


def any_requested() -> bool:
    return bool(_requested)


def update(cancelled: dict[str, str]) -> list[str]:
    """The worker's cancel watch: these tasks are cancelled now (all of them).

    Calls the cancel hook of each newly cancelled async task; returns the
    ids that are new.
    """
    global _requested
    with _lock:
        new = [task_id for task_id in cancelled if task_id not in _requested]
        _requested = dict(cancelled)
        hooks = [_on_cancel[task_id] for task_id in new if task_id in _on_cancel]
    for hook in hooks:
        hook()
    return new


def on_cancel(task_id: str, hook: Callable[[], None] | None) -> None:
    """Run ``hook`` (from another thread) when the task is cancelled; None: forget."""
    with _lock:
        if hook is None:
            _on_cancel.pop(task_id, None)
            return
        _on_cancel[task_id] = hook
        cancelled = task_id in _requested
    if cancelled:
        hook()
