"""One worker step at a time, in-process, against a real Redis.

The claim that resets after a lost reply, the settle that finds its script
gone, the settles handed back when the claim they rode behind failed, the
delivery limit, and the idle consumer's claim plan (on a fake clock).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from taskqueue import registry
from taskqueue.compat import TaskResultStatus
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.worker import fetch
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.execute import Executor
from taskqueue.worker.loop import Consumer
from taskqueue.worker.stop import StopFlag
from tests import tasks
from tests.helpers import dead_reasons

pytestmark = pytest.mark.django_db(transaction=True)


def make_consumer(backend, consumer_id: str, **config) -> Consumer:
    """A consumer of the default queue as runworker builds one; outages do not wait."""
    stop = StopFlag()
    stop.wait = lambda seconds: False  # the outage backoff, without the waiting
    executor = Executor(
        tasks=registry.tasks(backend.config.task_modules),
        options=backend.config, consumer=consumer_id,
    )  # fmt: skip
    return Consumer(
        config=WorkerConfig(queues=("default",), **config), broker=backend.broker,
        executor=executor, stop=stop, consumer_id=consumer_id,
    )  # fmt: skip


@pytest.fixture
def consumer(backend):
    made = make_consumer(backend, "steps.1", block_timeout=0.05)
    yield made
    made.shutdown()


def in_flight(broker, consumer_id: str = "steps.1") -> list[bytes]:
    return broker.in_flight("default", consumer_id)


def test_a_claim_whose_reply_was_lost_is_followed_by_a_reset_claim(
    consumer, broker, monkeypatch
):
    """The claim ran but its reply never came: the messages sit in our in-flight
    list unseen. The next claim hands them back and claims them once again."""
    queued = [tasks.add.enqueue(i, i) for i in range(3)]
    claim = broker.claim

    def ran_but_reply_lost(*args, **kwargs):
        claim(*args, **kwargs)
        raise BrokerUnavailable("Redis unavailable: connection reset")

    monkeypatch.setattr(broker, "claim", ran_but_reply_lost)
    assert consumer.fetch() == []
    stranded = in_flight(broker)
    assert stranded  # claimed, but unseen: the lost reply left them there
    monkeypatch.undo()

    batch = consumer.fetch()

    assert [c.raw for _, c in batch][: len(stranded)] == stranded  # back at the head
    assert [c.raw for _, c in batch] == in_flight(broker)  # held once, not twice
    assert all(c.redeliveries == 0 for _, c in batch)  # handed back, not recovered
    assert broker.stats("default").pending == 3 - len(batch)
    while batch:
        consumer.process(batch)
        batch = consumer.fetch()
    consumer.settler.flush()
    for result in queued:
        stored = tasks.add.get_result(result.id)
        assert stored.status == TaskResultStatus.SUCCESSFUL
        assert len(stored.worker_ids) == 1


def test_a_settle_behind_a_claim_that_finds_its_script_gone_is_stored(consumer, broker):
    """A Redis restart (SCRIPT FLUSH here) between two batches: the pipelined
    claim and settle get NOSCRIPT, and both are sent again as plain calls."""
    first = tasks.add.enqueue(1, 2)
    assert consumer.run_once()
    assert consumer.settler.pending  # the outcome rides behind the next claim
    second = tasks.add.enqueue(3, 4)
    broker.client.script_flush()

    assert consumer.run_once()
    consumer.settler.flush()

    assert tasks.add.get_result(first.id).return_value == 3
    assert tasks.add.get_result(second.id).return_value == 7
    assert in_flight(broker) == []


def test_settles_a_failed_claim_carried_are_kept_and_stored_later(
    consumer, broker, monkeypatch
):
    """The claim the settles rode behind did not go out: nothing is lost, and
    the task is not run again."""
    result = tasks.add.enqueue(5, 5)
    assert consumer.run_once()
    tasks.add.enqueue(6, 6)

    def cut(*args, **kwargs):
        raise BrokerUnavailable("Redis unavailable: cut")

    monkeypatch.setattr(broker, "claim_then_settle", cut)
    assert consumer.fetch() == []
    assert (
        tasks.add.get_result(result.id).status == TaskResultStatus.RUNNING
    )  # unstored
    monkeypatch.undo()

    assert consumer.run_once()
    consumer.settler.flush()

    stored = tasks.add.get_result(result.id)
    assert stored.status == TaskResultStatus.SUCCESSFUL
    assert len(stored.worker_ids) == 1
    assert in_flight(broker) == []


def test_a_message_at_the_delivery_limit_is_dead_lettered_without_running(
    backend, broker, tmp_path: Path
):
    """Each time its consumer dies holding it, recovery counts a redelivery;
    at MAX_DELIVERIES the next consumer dead-letters it instead of running it."""
    marker = tmp_path / "ran"
    result = tasks.write_marker.enqueue(str(marker))
    limit = backend.config.max_deliveries
    keys = broker.keys("default")
    for death in range(limit):
        victim = make_consumer(backend, f"victim.{death}", burst=True)
        assert len(victim.fetch()) == 1  # claimed, then it "dies" holding it
        broker.client.zadd(keys.consumers, {victim.id: 0})  # a stamp long stale
    rescuer = make_consumer(backend, "steps.rescuer", burst=True)

    (claimed,) = rescuer.fetch()
    assert claimed[1].redeliveries == limit
    rescuer.process([claimed])
    rescuer.settler.flush()

    assert not marker.exists()
    assert dead_reasons(broker) == [f"redelivered {limit} times"]
    stored = tasks.write_marker.get_result(result.id)
    assert stored.status == TaskResultStatus.FAILED
    assert stored.errors[-1].exception_class_path.endswith("PoisonMessage")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_an_idle_consumer_claims_again_only_when_a_claim_is_due(
    consumer, broker, monkeypatch
):
    """Between due claims an idle consumer only blocks (one BLMOVE per wait);
    it claims again when the idle interval has passed on its clock."""
    clock = FakeClock()
    monkeypatch.setattr(fetch.time, "monotonic", clock.monotonic)
    claims = []
    claim = broker.claim
    monkeypatch.setattr(
        broker, "claim", lambda *a, **k: claims.append(a[0]) or claim(*a, **k)
    )

    assert consumer.fetch() == []  # an empty claim plans the next one
    assert claims == ["default"]
    clock.now += consumer.fetcher.idle_claim_every - 0.5
    assert consumer.fetch() == []
    assert claims == ["default"]  # not due yet: it only blocked
    clock.now += 1.0
    assert consumer.fetch() == []
    assert claims == ["default", "default"]
