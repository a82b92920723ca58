"""The message pages' reads: the claim order they show, and their bounded cost (#19)."""

from __future__ import annotations

import re

import pytest
import redis

from taskqueue.broker import Broker
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis
from tests.replication import _answers


@pytest.mark.django_db(transaction=True)  # enqueue() waits for a commit
def test_the_pending_page_order_is_the_order_a_worker_runs_them(
    admin_client, broker, run_command
):
    ids = [
        tasks.add.enqueue(1, 1).id,
        tasks.add.using(priority=-3).enqueue(2, 2).id,
        tasks.add.using(priority=5).enqueue(3, 3).id,
        tasks.add.enqueue(4, 4).id,
        tasks.add.using(priority=7).enqueue(5, 5).id,
        tasks.add.enqueue(6, 6).id,  # three plain, two high, one low: no two alike
    ]
    html = admin_client.get("/admin/queues/messages/default/pending/").content.decode()
    shown = re.findall(r'<tr data-task-id="([^"]*)"', html)
    assert sorted(shown) == sorted(ids)

    done = run_command("runworker", "--burst", "--pool", "solo", "--concurrency", "1")
    assert done.returncode == 0, done.stderr

    started = {i: tasks.add.get_result(i).started_at for i in ids}
    assert sorted(ids, key=lambda i: started[i]) == shown


@pytest.fixture
def private_broker():
    server = PrivateRedis().start()
    wait_until(lambda: _answers(server.port))
    broker = Broker.connect(server.url)
    broker.client.ping()  # the connection is set up before anything is counted
    yield broker, redis.Redis(port=server.port)
    broker.close()
    server.kill()


def fill(client: redis.Redis, broker: Broker, n: int) -> None:
    """``n`` messages in each of the list, prio, scheduled and dead-letter keys."""
    k = broker.keys("default")
    with client.pipeline(transaction=False) as pipe:
        for start in range(0, n, 10_000):
            chunk = range(start, min(n, start + 10_000))
            pipe.rpush(k.pending, *(b"m%d" % i for i in chunk))
            pipe.zadd(k.prio, {b"p%d" % i: i * (1 if i % 2 else 10**16) for i in chunk})
            pipe.zadd(k.scheduled, {b"s%d" % i: i for i in chunk})
            pipe.zadd(k.dead_index, {b"d%d" % i: i for i in chunk})
            pipe.hset(k.dead, mapping={b"d%d" % i: b"{}" for i in chunk})
            pipe.hset(k.dead_raw, mapping={b"d%d" % i: b"raw" for i in chunk})
        pipe.execute()


UPKEEP = {"cmdstat_info", "cmdstat_ping", "cmdstat_hello", "cmdstat_client|setinfo"}


def calls(client: redis.Redis) -> int:
    """Commands the server ran, but for connection upkeep and this INFO itself."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k not in UPKEEP)


def page_costs(client: redis.Redis, broker: Broker, offset: int) -> list[int]:
    """Redis commands run by one page of each kind (the middle of the queue)."""
    costs = []
    for read in (broker.pending_page, broker.scheduled_page, broker.dead_page):
        before = calls(client)
        page = read("default", offset, 50)
        assert len(page.rows) == 50
        costs.append(calls(client) - before)
    return costs


def test_a_page_costs_the_same_commands_at_100_and_30000_messages(private_broker):
    broker, client = private_broker
    fill(client, broker, 100)
    small = page_costs(client, broker, offset=25)
    client.flushall()
    fill(client, broker, 30_000)
    large = page_costs(client, broker, offset=15_000)

    assert small == large
    # Pending: 3 counts + a range in each of the two parts the page spans
    # (positive priorities, then the list); scheduled: ZCARD + ZRANGE; dead:
    # ZCARD + ZREVRANGE + two HMGETs.
    assert small == [5, 2, 4]
