"""One consumer step in-process against a real Redis: hand-overs, fences, the watchdog."""

from __future__ import annotations

import time

import pytest

from taskqueue import registry
from taskqueue.broker import Claimed, ClaimPolicy
from taskqueue.protocol import Envelope
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.execute import Executor
from taskqueue.worker.loop import Consumer
from taskqueue.worker.status import Running
from taskqueue.worker.stop import StopFlag
from taskqueue.worker.watchdog import Watchdog
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def consumer(backend):
    """A consumer on the default two queues, as runworker builds one."""
    config = WorkerConfig(queues=("default", "high"), block_timeout=0.2)
    executor = Executor(
        tasks=registry.tasks(backend.config.task_modules),
        options=backend.config, consumer="step.1",
    )  # fmt: skip
    made = Consumer(
        config=config, broker=backend.broker, executor=executor, stop=StopFlag(),
        consumer_id="step.1",
    )  # fmt: skip
    yield made
    made.fetcher.close()


def test_a_hand_over_is_claimed_before_the_queues_it_waits_behind(consumer, broker):
    """A waiter's BLMOVE that landed after the consumer went on claiming."""
    first = tasks.add.enqueue(1, 1)
    raw = broker.block("default", "step.1", 1)  # what a waiter thread did
    consumer.fetcher.waiter._arrivals.put(("default", raw))
    for i in range(20):
        tasks.high_add.enqueue(i, i)

    batch = consumer.fetch()

    assert [claimed.raw for _, claimed in batch][:1] == [raw]
    assert first.id.encode() in raw


def test_a_hand_over_no_longer_in_flight_is_not_claimed_again(consumer, broker):
    """A reset handed it back meanwhile: it runs once, from the queue."""
    tasks.add.enqueue(2, 2)
    raw = broker.block("default", "step.1", 1)
    policy = ClaimPolicy(max_batch=0, worker_timeout=60, result_ttl=60)
    broker.claim("default", "step.1", policy, reset=True)  # hands raw back
    assert broker.stats("default").in_flight == 0

    result = broker.claim("default", "step.1", policy, moved=raw)

    assert result.messages == []
    assert broker.stats("default").pending == 1


def test_a_running_mark_needs_the_message_in_flight(broker):
    result = tasks.add.enqueue(3, 3)
    raw = broker.client.lindex(broker.keys("default").pending, 0)

    assert not broker.mark_running("default", "nobody", task_id=result.id, raw=raw)
    assert broker.client.exists(broker.keys("default").result(result.id)) == 0


def test_the_watchdog_leaves_alone_a_task_that_finished_meanwhile(consumer):
    """It looked at one task; by the time it acts, the consumer runs the next."""
    envelope = Envelope(
        id="w1", task="tests.tasks.add", args=[], kwargs={}, queue="default"
    )
    claimed = Claimed(b"raw", 0)
    timed = Running("default", claimed, envelope, time.monotonic() - 100)
    consumer.status.started(Running("default", claimed, envelope, time.monotonic()))

    Watchdog(consumer)._stop_child(timed, limit=1.0)  # acting would os._exit

    assert consumer.settler.pending == {}


def test_a_redis_that_went_back_in_time_gets_the_stale_in_flight_back(broker):
    """The claim numbers tell a rollback; what it brought back is handed back."""
    policy = ClaimPolicy(max_batch=5, worker_timeout=60, result_ttl=60)
    tasks.add.enqueue(4, 4)
    (held,) = broker.claim("default", "step.2", policy).messages
    broker.claim("default", "step.2", policy)
    broker.client.hset(broker.keys("default").claims, "step.2", 1)  # back in time

    again = broker.claim("default", "step.2", policy).messages

    assert again == [held]  # handed back to the queue, and claimed as new
    inflight = broker.client.lrange(broker.keys("default").inflight("step.2"), 0, -1)
    assert inflight == [held.raw]


def test_a_consumer_whose_heartbeat_is_not_getting_through_claims_nothing(
    consumer, broker
):
    """Others may presume it dead and recover what it claims: it waits instead."""
    tasks.add.enqueue(5, 5)
    consumer.fetcher.beating = lambda: False
    consumer.stop.wait = lambda seconds: False  # the outage backoff, without waiting

    assert consumer.fetch() == []
    assert broker.stats("default").pending == 1

    consumer.fetcher.beating = lambda: True
    assert len(consumer.fetch()) == 1
