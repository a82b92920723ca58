"""taskqueue: a reliable Redis task queue for Django's Tasks API."""

__version__ = "0.1.0"


def cancel(task_id: str, *, terminate: bool = False, alias: str = "default") -> bool:
    """Cancel a task that has not finished (see taskqueue.cancellation.cancel)."""
    from taskqueue.cancellation import cancel as _cancel

    return _cancel(task_id, terminate=terminate, alias=alias)


def cancel_requested(context: object) -> bool:
    """Whether the running task of ``context`` was cancelled (see taskqueue.cancellation)."""
    from taskqueue.cancellation import cancel_requested as _requested

    return _requested(context)
