"""Unique tasks against the real Redis: one task per key, released when it settles."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from taskqueue.backends import enqueue_many
from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.inprocess import InProcessWorker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(broker):
    made = InProcessWorker(broker)
    yield made
    made.close()


def test_a_second_enqueue_of_the_same_call_returns_the_first_task(backend):
    first = tasks.unique_sleep.enqueue(0.01, label="a")
    again = tasks.unique_sleep.enqueue(0.01, label="a")
    other = tasks.unique_sleep.enqueue(0.01, label="b")

    assert again.id == first.id
    assert other.id != first.id
    assert backend.broker.stats("default").pending == 2


def test_twenty_threads_enqueuing_one_key_get_one_task(backend):
    barrier = threading.Barrier(20)
    ids: list[str] = []

    def enqueue() -> None:
        barrier.wait()
        ids.append(tasks.unique_by_first.enqueue(7).id)

    threads = [threading.Thread(target=enqueue) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(ids) == 20
    assert len(set(ids)) == 1
    assert backend.broker.stats("default").pending == 1


def _enqueue_in_child(barrier, out) -> None:
    barrier.wait()
    out.put(tasks.unique_by_first.enqueue(8).id)


def test_twenty_processes_enqueuing_one_key_get_one_task(backend):
    backend.broker.ping()  # connected before the fork: each child reconnects
    context = multiprocessing.get_context("fork")
    barrier, out = context.Barrier(20), context.Queue()
    children = [
        context.Process(target=_enqueue_in_child, args=(barrier, out))
        for _ in range(20)
    ]
    for child in children:
        child.start()
    ids = [out.get(timeout=20) for _ in children]
    for child in children:
        child.join(timeout=10)

    assert len(set(ids)) == 1
    assert backend.broker.stats("default").pending == 1


def test_enqueue_many_applies_uniqueness_per_item(backend):
    results = enqueue_many(
        tasks.unique_by_first, [((1,), {}), ((2,), {}), ((1,), {"fail": True})]
    )

    assert results[2].id == results[0].id != results[1].id
    assert backend.broker.stats("default").pending == 2


@pytest.mark.parametrize(
    ("fail", "status"),
    [(False, TaskResultStatus.SUCCESSFUL), (True, TaskResultStatus.FAILED)],
)
def test_the_key_is_released_when_its_task_settles(worker, fail, status):
    first = tasks.unique_by_first.enqueue(3, fail=fail)
    assert tasks.unique_by_first.enqueue(3).id == first.id

    worker.run_until(lambda: tasks.unique_by_first.get_result(first.id).is_finished)

    assert tasks.unique_by_first.get_result(first.id).status == status
    assert tasks.unique_by_first.enqueue(3).id != first.id


def test_the_key_expires_after_unique_for(backend, broker, settings):
    first = tasks.unique_by_first.enqueue(4)
    digest = broker.client.keys(broker.keys("default").unique_prefix + "*")[0]
    broker.client.pexpire(digest, 1)  # unique_for has passed

    wait_until(lambda: not broker.client.exists(digest), timeout=2)
    assert tasks.unique_by_first.enqueue(4).id != first.id


def test_a_task_dead_lettered_at_its_delivery_limit_releases_its_key(
    worker, broker, backend
):
    first = tasks.unique_by_first.enqueue(5)
    k = broker.keys("default")
    (raw,) = broker.client.lrange(k.pending, 0, -1)
    broker.client.hset(k.redelivered, raw, backend.config.max_deliveries + 1)

    worker.run_until(lambda: broker.client.hlen(k.dead) == 1)

    assert tasks.unique_by_first.get_result(first.id).status == TaskResultStatus.FAILED
    assert tasks.unique_by_first.enqueue(5).id != first.id


def test_the_message_names_the_key_its_task_holds(broker):
    first = tasks.unique_by_first.enqueue(6)
    (raw,) = broker.client.lrange(broker.keys("default").pending, 0, -1)
    digest = raw.rsplit(b'"unique":"', 1)[1][:40].decode()

    assert broker.unique_holder("default", digest) == first.id


def test_a_retry_keeps_the_key_and_the_final_settle_releases_it(broker):
    from taskqueue.broker import ClaimPolicy, Settlement

    first = tasks.unique_by_first.enqueue(9)
    k = broker.keys("default")
    (claimed,) = broker.claim("default", "c1", ClaimPolicy(1, 60, 60)).messages
    key = k.unique_prefix + claimed.raw.rsplit(b'"unique":"', 1)[1][:40].decode()
    retry = Settlement(
        "retry", claimed.raw, first.id, "READY", claimed.raw, delay=0.0, unique=key
    )

    assert broker.settle("default", "c1", [retry], ttl=60) == 1
    assert broker.client.get(key) == first.id.encode()

    broker.client.zadd(k.scheduled, {claimed.raw: 0})
    (again,) = broker.claim("default", "c1", ClaimPolicy(1, 60, 60)).messages
    done = Settlement("done", again.raw, first.id, "SUCCESSFUL", unique=key)
    assert broker.settle("default", "c1", [done], ttl=60) == 1
    assert broker.client.get(key) is None
