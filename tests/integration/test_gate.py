"""The gate script against the real Redis: deferral, slots tied to heartbeats, release."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from taskqueue.broker import ClaimPolicy, Settlement
from taskqueue.compat import TaskResultStatus
from taskqueue.decoding import decode
from taskqueue.taskoptions import TaskLimits
from taskqueue.web.metrics import exposition_registry
from tests import tasks
from tests.inprocess import InProcessWorker

pytestmark = pytest.mark.django_db(transaction=True)
ONE = ClaimPolicy(max_batch=1, worker_timeout=60, result_ttl=60)
CAP = TaskLimits(path=tasks.capped_sleep.module_path, concurrency=2)


def claim(broker, consumer: str) -> bytes:
    (claimed,) = broker.claim("default", consumer, ONE).messages
    return claimed.raw


def gate(broker, consumer: str, raw: bytes, limits: TaskLimits = CAP):
    task_id = decode(raw, max_bytes=10**6, queue="default").id
    return broker.gate("default", consumer, limits, task_id=task_id, raw=raw, timeout=5)


def test_a_full_cap_defers_until_a_holders_heartbeat_is_older_than_the_timeout(broker):
    for _ in range(3):
        tasks.capped_sleep.enqueue(0.01)
    raws = {c: claim(broker, c) for c in ("c1", "c2", "c3")}

    assert gate(broker, "c1", raws["c1"]).action == "run"
    assert gate(broker, "c2", raws["c2"]).action == "run"
    refused = gate(broker, "c3", raws["c3"])
    assert (refused.action, refused.reason) == ("wait", "concurrency")
    assert 0 < refused.seconds <= 5.1
    assert broker.in_flight("default", "c3") == []  # out of flight, into scheduled
    assert broker.stats("default").scheduled == 1

    broker.client.zadd(broker.keys("default").consumers, {"c1": 0})  # c1 went silent
    again = claim_scheduled(broker, "c3")
    assert gate(broker, "c3", again).action == "run"


def claim_scheduled(broker, consumer: str) -> bytes:
    k = broker.keys("default")
    (raw,) = broker.client.zrange(k.scheduled, 0, 0)
    broker.client.zadd(k.scheduled, {raw: 0})  # due now
    return claim(broker, consumer)


def test_a_settle_frees_the_slot_and_sends_the_first_waiting_message_on(broker):
    for _ in range(3):
        tasks.capped_sleep.enqueue(0.01)
    raws = [claim(broker, c) for c in ("c1", "c2", "c3")]
    for consumer, raw in zip(("c1", "c2", "c3"), raws, strict=True):
        gate(broker, consumer, raw)
    k = broker.keys("default")
    held = decode(raws[0], max_bytes=10**6, queue="default").id

    done = Settlement("done", raws[0], held, "SUCCESSFUL", slot=k.slots(CAP.path))
    assert broker.settle("default", "c1", [done], ttl=60) == 1

    assert broker.client.hkeys(k.slots(CAP.path)) != [held.encode()]
    assert held.encode() not in broker.client.hkeys(k.slots(CAP.path))
    assert broker.client.lrange(k.pending, 0, -1) == [raws[2]]
    assert broker.stats("default").scheduled == 0


def test_an_over_limit_start_is_deferred_not_failed_nor_an_attempt(
    broker, settings, backend
):
    """TASK_OPTIONS overrides the decorator's 20/s: one start an hour."""
    options = settings.TASKS["default"]["OPTIONS"]
    options["TASK_OPTIONS"] = {"tests.tasks.rate_limited": {"rate_limit": "1/h"}}
    settings.TASKS = {**settings.TASKS}
    worker = InProcessWorker(broker)
    try:
        results = [tasks.rate_limited.enqueue(i) for i in range(3)]
        worker.run_until(lambda: broker.stats("default").scheduled == 2)
    finally:
        worker.close()

    statuses = [tasks.rate_limited.get_result(r.id).status for r in results]
    assert statuses.count(TaskResultStatus.SUCCESSFUL) == 1
    assert statuses.count(TaskResultStatus.READY) == 2
    k = broker.keys("default")
    deferred = broker.client.zrange(k.scheduled, 0, -1, withscores=True)
    assert len(deferred) == 2
    assert [
        decode(raw, max_bytes=10**6, queue="default").attempt for raw, _ in deferred
    ] == [1, 1]
    gap = deferred[1][1] - deferred[0][1]
    assert gap == pytest.approx(3600, abs=0.01)  # booked one interval apart
    exposed = generate_latest(exposition_registry()).decode()
    assert (
        'taskqueue_task_deferrals_total{reason="rate_limit",task="tests.tasks.rate_limited"}'
        in exposed
    )


def test_the_dashboard_shows_each_limited_tasks_use(admin_client, broker):
    tasks.capped_sleep.enqueue(0.01)
    gate(broker, "c1", claim(broker, "c1"))

    data = admin_client.get("/admin/queues/data/").json()

    rows = {row["task"]: row for row in data["limits"]}
    assert rows[CAP.path]["running"] == 1
    assert rows[CAP.path]["concurrency"] == 2
    assert rows["tests.tasks.rate_limited"]["rate_per_second"] == 20
    assert 'id="tq-limits"' in data["html"]


def test_a_consumers_own_unsettled_slot_does_not_keep_its_next_task_waiting(broker):
    """A batch runs one task after another; the settle comes after the batch."""
    for _ in range(3):
        tasks.capped_sleep.enqueue(0.01)
    first, second = claim(broker, "c1"), claim(broker, "c2")
    third = claim(broker, "c1")

    assert gate(broker, "c1", first).action == "run"
    assert gate(broker, "c2", second).action == "run"
    assert gate(broker, "c1", third).action == "run"  # c1's first is done
