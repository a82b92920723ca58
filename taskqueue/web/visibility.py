"""What a staff user without ``taskqueue.view_tasks`` sees of the dashboard.

Counts, statuses, task paths and ids (docs/permissions.md); not what a task
carries: its error messages, metadata, or the bytes of its dead letter.
The dashboard's page and its JSON refresh are redacted alike, here, so
that neither can show more than the other.
"""

from __future__ import annotations

from typing import Any

from taskqueue.enqueuer import VIEW_TASKS

HIDDEN = ""  # what a hidden field shows


def can_view(user: Any) -> bool:
    return bool(user.has_perm(VIEW_TASKS))


def redacted(data: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's snapshot without task contents."""
    return {
        **data,
        "recent_results": [
            {**row, "error": HIDDEN, "metadata": HIDDEN}
            for row in data.get("recent_results", [])
        ],
        "dead_letters": [
            {**row, "preview": HIDDEN} for row in data.get("dead_letters", [])
        ],
        "workers": [
            {
                **worker,
                "tasks": [{**t, "metadata": HIDDEN} for t in worker.get("tasks", [])],
            }
            for worker in data.get("workers", [])
        ],
    }
