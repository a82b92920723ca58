"""taskqueue: a reliable Redis task queue for Django's Tasks API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskqueue.flowstatus import workflow_status as workflow_status

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``taskqueue.workflow_status``, imported on first use (nothing at import time)."""
    if name == "workflow_status":
        from taskqueue.flowstatus import workflow_status

        return workflow_status
    raise AttributeError(f"module 'taskqueue' has no attribute {name!r}")


def wait(result_or_id: Any, timeout: float) -> Any:
    """The finished TaskResult, without polling: see ``taskqueue.waiting.wait``.

    Imported when called, so that importing taskqueue touches no settings.
    """
    from taskqueue.waiting import wait as wait_for_result

    return wait_for_result(result_or_id, timeout)


async def async_wait(result_or_id: Any, timeout: float) -> Any:
    """``taskqueue.wait`` for async code: see ``taskqueue.waiting.async_wait``."""
    from taskqueue.waiting import async_wait as wait_for_result

    return await wait_for_result(result_or_id, timeout)


def cancel(task_id: str, *, terminate: bool = False, alias: str = "default") -> bool:
    """Cancel a task that has not finished (see taskqueue.cancellation.cancel)."""
    from taskqueue.cancellation import cancel as _cancel

    return _cancel(task_id, terminate=terminate, alias=alias)


def cancel_requested(context: object) -> bool:
    """Whether the running task of ``context`` was cancelled (see taskqueue.cancellation)."""
    from taskqueue.cancellation import cancel_requested as _requested

    return _requested(context)
