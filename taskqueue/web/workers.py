"""The dashboard's worker table: who runs what, for how long, and who is lost.

A worker's heartbeat rewrites its entry in the workers hash (see
taskqueue/worker/heartbeat.py); a clean exit deletes it, a crash leaves it
behind. So an entry whose heartbeat is older than ``WORKER_TIMEOUT`` is a
worker that others presume dead (its in-flight tasks get recovered): the
table shows it as *lost*, not live, until the heartbeat's pruning forgets it.

Each current task's metadata/progress comes from its result record: one
pipelined read per listed task, at most ``METADATA_READS`` per page, so a
fleet of thousands of threads costs a bounded number of round trips.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from django.urls import NoReverseMatch, reverse

from taskqueue.backends import RedisBackend
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.results import ResultRecord

METADATA_READS = 20  # result records read per page for the current tasks' progress


def worker_rows(
    backend: RedisBackend, workers: list[dict[str, Any]], now: float | None = None
) -> list[dict[str, Any]]:
    """The API's worker entries plus what the table shows; never raises on bad entries."""
    now = time.time() if now is None else now
    timeout = backend.config.worker_timeout
    rows = []
    budget = METADATA_READS
    for w in workers:
        started, beat = (
            _parse_iso(w.get("started_at")),
            _parse_iso(w.get("heartbeat_at")),
        )
        age = round(now - beat.timestamp(), 1) if beat else None
        tasks = _running(w, now)
        for task in tasks:
            if budget > 0:
                budget -= 1
                task["metadata"] = _metadata(backend, task)
        rows.append(
            {
                **w,
                "started": started,
                "heartbeat_age": age,
                "lost": age is None or age > timeout,
                "tasks": tasks,
            }
        )
    return rows


def _running(worker: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """The worker's current tasks: from ``running`` (path, queue, start), else ids only."""
    shown: list[dict[str, Any]] = []
    running = worker.get("running")
    for item in running if isinstance(running, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        shown.append(_task(item, now))
    known = {task["id"] for task in shown}
    for task_id in worker.get("current") or []:  # an older worker: ids only
        if isinstance(task_id, str) and task_id not in known:
            shown.append(_task({"id": task_id}, now))
    return shown


def _task(item: dict[str, Any], now: float) -> dict[str, Any]:
    """One current task; ``item`` has a str ``id``, the rest is checked here."""
    since: Any = item.get("since")
    numeric = isinstance(since, int | float) and not isinstance(since, bool)
    try:
        url = reverse("taskqueue_dashboard:task", kwargs={"task_id": item["id"]})
    except NoReverseMatch:  # an id no URL can hold (anyone can write to Redis)
        url = ""
    return {
        "id": item["id"],
        "task": _str(item.get("task")),
        "queue": _str(item.get("queue")),
        "running_for": max(0, round(now - since)) if numeric else None,
        "url": url,
        "metadata": "",
    }


def _metadata(backend: RedisBackend, task: dict[str, Any]) -> str:
    """The task's saved metadata in one short line ("" when none or unreadable)."""
    from taskqueue.web.dashboard import _metadata_label  # it imports this module

    queues = [task["queue"]] if task["queue"] in backend.queue_names else []
    if not queues:
        return ""
    try:
        found = backend.broker.result_record(task["id"], queues)
    except BrokerUnavailable:
        return ""
    if found is None:
        return ""
    return _metadata_label(ResultRecord.parse(*found).metadata)  # both are total


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
