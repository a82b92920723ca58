"""taskqueue: a reliable Redis task queue for Django's Tasks API."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskqueue.flowstatus import workflow_status as workflow_status

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``taskqueue.workflow_status``, imported on first use (nothing at import time)."""
    if name == "workflow_status":
        from taskqueue.flowstatus import workflow_status

        return workflow_status
    raise AttributeError(f"module 'taskqueue' has no attribute {name!r}")
