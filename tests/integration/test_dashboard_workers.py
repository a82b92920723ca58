"""The dashboard's worker table from entries in the workers hash (#19)."""

from __future__ import annotations

import time

import orjson
import pytest

from taskqueue.keys import workers_key
from taskqueue.web.workers import METADATA_READS, worker_rows

pytestmark = pytest.mark.django_db(transaction=True)


def _entry(name, beat_age, **extra):
    now = time.time()
    return orjson.dumps({
        "name": name, "host": "box", "pid": 7, "queues": ["default"],
        "started_at": now - 60, "heartbeat_at": now - beat_age, "processed": 4,
        "pool": "thread", "concurrency": 8, "current": [], **extra,
    })  # fmt: skip


def test_stale_heartbeat_is_lost_and_fresh_is_live(broker, key_prefix, admin_client):
    key = workers_key(key_prefix)
    broker.client.hset(key, "fresh", _entry("fresh", 0.5))
    broker.client.hset(key, "stale", _entry("stale", 2.5))  # WORKER_TIMEOUT is 2 s

    body = admin_client.get("/admin/queues/data/").json()

    assert {w["name"]: w["lost"] for w in body["workers"]} == {
        "fresh": False, "stale": True,
    }  # fmt: skip
    assert 'data-worker="stale" class="tq-lost"' in body["html"]
    assert "thread &times; 8" in body["html"]


def test_current_task_shows_path_link_age_and_saved_progress(
    broker, backend, key_prefix, admin_client
):
    task_id = "a" * 32
    broker.client.hset(
        backend.broker.keys("default").result(task_id), "metadata", b'{"progress": 40}'
    )
    running = [{"id": task_id, "task": "app.resize", "queue": "default",
                "since": time.time() - 12}]  # fmt: skip
    broker.client.hset(
        workers_key(key_prefix),
        "w",
        _entry("w", 0.1, current=[task_id], running=running),
    )

    page = admin_client.get("/admin/queues/").content.decode()

    assert "<code>app.resize</code>" in page
    assert f'<a href="/admin/queues/tasks/{task_id}/">{task_id}</a>' in page
    assert "running for 12 s" in page or "running for 13 s" in page
    assert "progress=40" in page


def test_hostile_running_entries_are_skipped_and_reads_are_bounded(backend):
    running = [{"id": f"{i:032x}", "queue": "default", "since": "x"} for i in range(30)]
    workers = [
        {"name": "a", "heartbeat_at": "not a time", "current": [5, "b" * 32],
         "running": [None, {"id": 3}, "junk", *running]},
        {"name": "b", "running": "junk", "current": None},
    ]  # fmt: skip
    calls = []
    original = backend.broker.result_record
    backend.broker.result_record = lambda *a: calls.append(a) or original(*a)

    rows = worker_rows(backend, workers)

    assert [len(r["tasks"]) for r in rows] == [31, 0]
    assert rows[0]["lost"] is True
    assert rows[0]["heartbeat_age"] is None
    assert rows[0]["tasks"][0]["running_for"] is None
    assert len(calls) == METADATA_READS
