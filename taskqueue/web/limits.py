"""The dashboard's "Limited tasks" panel: each rate-limited or capped task's use now.

Read from the gate's keys (``taskqueue.store.gating.Usage``): slots held,
messages waiting for one, and how far ahead the rate limit has booked
starts. A task with no limits adds nothing here and costs no command.
"""

from __future__ import annotations

from typing import Any

from taskqueue import registry
from taskqueue.backends import RedisBackend
from taskqueue.taskoptions import TaskLimits, limits_for


def limited_tasks(backend: RedisBackend) -> list[tuple[str, TaskLimits]]:
    """(queue, limits) of every registered task with a rate limit or a cap."""
    found = []
    for path, task in sorted(registry.tasks(backend.config.task_modules).items()):
        limits = limits_for(path, task.func, backend.config.task_options)
        queue = str(getattr(task, "queue_name", ""))
        if limits is not None and limits.gated and queue in backend.queue_names:
            found.append((queue, limits))
    return found


def limit_rows(backend: RedisBackend) -> list[dict[str, Any]]:
    """One row per limited task; BrokerUnavailable leaves to the dashboard's handler."""
    rows = []
    for queue, limits in limited_tasks(backend):
        usage = backend.broker.usage(queue, limits.path)
        rows.append(
            {
                "task": limits.path,
                "queue": queue,
                "rate_per_second": round(1 / limits.interval, 4)
                if limits.interval
                else None,
                "concurrency": limits.concurrency or None,
                "running": usage.running,
                "waiting": usage.waiting,
                "booked_ahead": round(usage.booked_ahead, 2),
            }
        )
    return rows
