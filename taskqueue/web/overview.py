"""What the queues and workers look like now: the API, the dashboard and the commands.

``GET /api/queues/`` and ``queuestats`` show ``queue_overview``; the
dashboard adds to it; ``workerhealth`` and the metrics' worker gauges use
``live_workers``/``heartbeat_age``. A worker entry is JSON that each
worker's heartbeat rewrites, but anyone can write to Redis: every reader
here is total.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from taskqueue.backends import RedisBackend
from taskqueue.results import iso, loads_or_none


def queue_overview(backend: RedisBackend) -> dict[str, Any]:
    """Counts per queue and live workers: GET /api/queues/ and ``queuestats``."""
    broker = backend.broker
    queues = [broker.stats(name).as_dict() for name in backend.queue_names]
    workers = [worker_entry(k, info) for k, info in sorted(broker.workers().items())]
    return {"queues": queues, "workers": workers}


WORKER_FIELDS: dict[str, type] = {
    "name": str, "host": str, "pid": int, "processed": int,
    "queues": list, "current": list, "consumers": list,
}  # fmt: skip
WORKER_TIMES = ("started_at", "heartbeat_at")


def _well_typed(value: Any, kind: type) -> bool:
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    return kind is not list or all(isinstance(item, str) for item in value)


def worker_entry(key: str, raw: bytes) -> dict[str, Any]:
    """One entry of the workers hash as the API shows it; never raises.

    Anyone can write to Redis, so each known field is type-checked: a bad
    one is shown as null and named in ``unreadable``; an entry that is not
    a JSON object is just its name and ``"unreadable": ["entry"]``. Times
    are ISO 8601.
    """
    value = loads_or_none(raw)
    if not isinstance(value, dict):
        return {"name": key, "unreadable": ["entry"]}
    entry: dict[str, Any] = {"name": key, **value}
    bad = []
    for field, kind in WORKER_FIELDS.items():
        if field in entry and not _well_typed(entry[field], kind):
            entry[field] = key if field == "name" else None
            bad.append(field)
    for field in WORKER_TIMES:
        if field in entry:
            shown = iso(entry[field])
            if shown is None and entry[field] is not None:
                bad.append(field)
            entry[field] = shown
    if bad:
        entry["unreadable"] = bad
    return entry


def live_workers(
    infos: dict[str, bytes], timeout: float, now: float | None = None
) -> list[str]:
    """Names in Broker.workers() whose heartbeat_at is within ``timeout`` seconds.

    Shared with ``workerhealth``: entries that are not valid JSON or have no
    heartbeat count as dead (a killed worker leaves its entry behind).
    """
    now = time.time() if now is None else now
    return [name for name, info in infos.items() if heartbeat_age(info, now) <= timeout]


def heartbeat_age(info: bytes, now: float) -> float:
    """Seconds since the entry's heartbeat_at (infinite when unreadable)."""
    try:
        beat = float(orjson.loads(info)["heartbeat_at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return float("inf")
    return max(0.0, now - beat)


def without_current_tasks(overview: dict[str, Any]) -> dict[str, Any]:
    """The overview for a caller without ``taskqueue.view_tasks``: no task ids.

    A worker's ``current`` becomes null and its ``running`` entries keep the
    task path, queue and start, not the id (docs/permissions.md).
    """
    workers = []
    for worker in overview["workers"]:
        shown = {**worker, "current": None} if "current" in worker else dict(worker)
        running = worker.get("running")
        if isinstance(running, list):
            shown["running"] = [
                {k: v for k, v in item.items() if k != "id"}
                for item in running
                if isinstance(item, dict)
            ]
        workers.append(shown)
    return {**overview, "workers": workers}
