"""Faults found by the chaos run (bench/chaos.py, issue 14), each reproduced here."""

from __future__ import annotations

import pytest
from django.db import connection

from taskqueue import registry
from taskqueue.broker import ClaimPolicy, Settlement
from taskqueue.decoding import visible_id
from taskqueue.exceptions import BrokerUnavailable
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.execute import Executor
from taskqueue.worker.loop import Consumer
from taskqueue.worker.stop import StopFlag
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis, TcpProxy
from tests.process.test_crash import _ping, _point_backend_at
from tests.process.test_partial_failure import _status

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


@pytest.mark.postgres
def test_a_task_a_db_outage_could_not_hand_back_runs_once_both_are_back(
    start_worker, settings
):
    """Redis and the database cut at once, mid-task: the task gives its message
    back, but Redis is away too, so it stays in the consumer's in-flight list.
    The consumer's next claim of that queue must hand it back (a reset claim);
    before, it sat there, never run, for as long as the worker lived."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: runs in the CI's PostgreSQL legs")
    server = PrivateRedis().start()
    redis_proxy = TcpProxy(server.port)
    s = connection.settings_dict
    db_proxy = TcpProxy(int(s["PORT"] or 5432))
    redis_url = f"redis://127.0.0.1:{redis_proxy.port}/0"
    db_url = f"postgres://{s['USER'] or ''}@127.0.0.1:{db_proxy.port}/{s['NAME']}"
    try:
        _point_backend_at(settings, server.url)
        wait_until(lambda: _ping(server.url))
        result = tasks.query_pause_query.enqueue(1.5)
        worker = start_worker(
            env={"REDIS_URL": redis_url, "TEST_REDIS_URL": redis_url,
                 "DATABASE_URL": db_url},
        )  # fmt: skip
        wait_until(lambda: "Task received" in worker.output, timeout=30)
        db_proxy.cut()
        redis_proxy.cut()
        try:
            wait_until(lambda: "Could not return" in worker.output, timeout=30)
        except AssertionError:
            raise AssertionError(worker.output[-3000:]) from None
        redis_proxy.restore()
        db_proxy.restore()
        wait_until(lambda: "Database is back" in worker.output, timeout=30)

        wait_until(lambda: _status(result) == "SUCCESSFUL", timeout=30)
        assert worker.proc.poll() is None, worker.output[-2000:]
    finally:
        redis_proxy.close()
        db_proxy.close()
        server.kill()


def test_messages_a_failed_hand_back_left_in_flight_are_claimed_again(
    backend, broker, monkeypatch
):
    """The same step in-process, on any database: a hand-back that Redis did not
    take leaves the batch in flight; the next claim of the queue resets it."""
    config = WorkerConfig(queues=("default",), block_timeout=0.2)
    executor = Executor(
        tasks=registry.tasks(backend.config.task_modules),
        options=backend.config, consumer="lost.1",
    )  # fmt: skip
    consumer = Consumer(
        config=config, broker=broker, executor=executor, stop=StopFlag(),
        consumer_id="lost.1",
    )  # fmt: skip
    tasks.add.enqueue(1, 2)
    batch = consumer.fetch()
    assert len(batch) == 1

    def away(*args, **kwargs):
        raise BrokerUnavailable("Redis unavailable: cut")

    monkeypatch.setattr(broker, "requeue", away)
    consumer.handback.requeue(batch)  # as after a database outage, with Redis cut too
    monkeypatch.undo()

    again = consumer.fetch()

    assert [c.raw for _, c in again] == [c.raw for _, c in batch]
    assert broker.stats("default").in_flight == 1


def test_a_legacy_message_recovered_before_its_wrapping_leaves_no_count_behind(
    broker,
):
    """A waiter's BLMOVE put the raw legacy text in flight, then the worker died:
    recovery counts the raw text, and the claim that wraps it must carry the
    count over to the wrapper (which the settle clears) instead of leaving it
    in {Q}:redelivered forever."""
    k = broker.keys("default")
    legacy = b"{'recipe_id': 7}"
    broker.push_raw("default", legacy)
    assert broker.block("default", "dead.1", 1) == legacy
    broker.client.zadd(k.consumers, {"dead.1": 1.0})  # its last stamp: long ago
    policy = ClaimPolicy(max_batch=10, worker_timeout=1, result_ttl=60)

    claimed = broker.claim("default", "live.1", policy)

    assert claimed.recovered == 1
    [message] = claimed.messages
    assert message.redeliveries == 1
    task_id = visible_id(message.raw)
    done = Settlement(
        "done", message.raw, task_id, "SUCCESSFUL", b"1", redelivered=True
    )
    assert broker.settle("default", "live.1", [done], ttl=60) == 1
    assert broker.client.hgetall(k.redelivered) == {}
