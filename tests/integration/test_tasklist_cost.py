"""A task list page costs the same Redis commands at 1,000 and at 100,000 results.

Counted with ``INFO commandstats`` on a Redis of the test's own (the shared
one counts every other test's commands too), reset before each page. The
numbers are the ones docs/operations.md gives ("The task list").
"""

from __future__ import annotations

import re

import pytest
import redis

from taskqueue.web.tasklist import PAGE_SIZE, SCAN_WINDOW
from tests.conftest import wait_until
from tests.helpers import PrivateRedis
from tests.tasklist_seed import minute_of, seed, seed_id

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/queues/tasks/"


@pytest.fixture
def private_backend(settings, key_prefix):
    """The default backend on a private Redis: every command counted is the page's."""
    server = PrivateRedis().start()
    try:
        client = redis.Redis.from_url(server.url)
        wait_until(lambda: _pings(client))
        tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
        tasks["default"]["OPTIONS"] = {
            **tasks["default"]["OPTIONS"],
            "REDIS_URL": server.url,
        }
        settings.TASKS = tasks
        from taskqueue.compat import task_backends

        yield task_backends["default"], client
        client.close()
    finally:
        server.kill()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def page_cost(
    admin_client, client: redis.Redis, params: dict[str, str]
) -> dict[str, int]:
    """The commands one page load sent, by name (INFO and CONFIG left out)."""
    client.config_resetstat()
    response = admin_client.get(URL, params)
    assert response.status_code == 200
    stats = client.info("commandstats")
    counts = {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if not re.match(r"cmdstat_(info|config)", name)
    }
    assert "Redis is unavailable" not in response.content.decode()
    return counts


def test_a_page_costs_the_same_at_1000_and_100000_results(
    admin_client, private_backend
):
    backend, client = private_backend
    broker, queues = backend.broker, len(backend.queue_names)
    cases = {
        "first page": {},
        # default: past task 500 (index 500 of its minute's bucket); high: done.
        "deep page": {"before": f"{minute_of(500)}.500~!"},
        "filtered": {"path": "recipe.", "status": "FAILED"},
        "by id": {"id": seed_id(10)},
    }
    seed(broker, 0, 1_000)
    page_cost(admin_client, client, {})  # loads the read script: not counted
    small = {
        name: page_cost(admin_client, client, params) for name, params in cases.items()
    }
    seed(broker, 1_000, 100_000)
    large = {
        name: page_cost(admin_client, client, params) for name, params in cases.items()
    }

    assert large == small
    # Per queue one EVALSHA (one ZREVRANGEBYSCORE inside, then an LLEN and an
    # LRANGE per bucket read: one here), then the records read: one EVALSHA
    # (lua/record.lua) for the queue whose tasks the page shows, an HMGET each.
    reads = {"evalsha": queues + 1, "zrevrangebyscore": queues, "llen": 1, "lrange": 1}
    assert small["first page"] == {**reads, "hmget": PAGE_SIZE + 1}
    assert small["deep page"] == {
        "evalsha": 2, "zrevrangebyscore": 1, "llen": 1, "lrange": 1,
        "hmget": PAGE_SIZE + 1,
    }  # fmt: skip
    assert small["filtered"] == {**reads, "hmget": SCAN_WINDOW // queues}
    # The task is in one queue; in the other, not in the ready hash nor a bucket.
    absent = {"hget": queues - 1, "zrevrange": queues - 1}
    assert small["by id"] == {"evalsha": queues, "hmget": queues, **absent}


def test_a_page_over_sparse_buckets_reads_a_bounded_number_of_them(
    admin_client, private_backend
):
    """One task a minute (the least a bucket holds): a page reads 51 buckets at most."""
    backend, client = private_backend
    k = backend.broker.keys("default")
    with client.pipeline(transaction=False) as pipe:
        for minute in range(29_000_000, 29_002_000):  # 2,000 minutes of one task each
            task_id = f"sparse-{minute}"
            pipe.hset(k.result(task_id), mapping={
                "msg": b'{"v":1,"id":"%s","task":"t.t","queue":"default"}' % task_id.encode(),
                "status": "SUCCESSFUL", "finished_at": minute * 60 + 1, "bucket": minute,
            })  # fmt: skip
            pipe.rpush(k.finished_prefix + str(minute), task_id)
            pipe.zadd(k.finished_minutes, {str(minute): minute})
        pipe.execute()
    page_cost(admin_client, client, {})  # loads the read script: not counted

    cost = page_cost(admin_client, client, {})

    assert cost["llen"] == cost["lrange"] == PAGE_SIZE + 1
    assert cost["hmget"] == PAGE_SIZE + 1
