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
from tests.tasklist_seed import seed, seed_id

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
        "deep page": {"before": f"{1_780_000_000.5!r}:{seed_id(500)}"},
        "filtered": {"path": "recipe.", "status": "FAILED"},
        "by id": {"id": seed_id(10)},
    }
    seed(broker, 0, 1_000)
    small = {
        name: page_cost(admin_client, client, params) for name, params in cases.items()
    }
    seed(broker, 1_000, 100_000)
    large = {
        name: page_cost(admin_client, client, params) for name, params in cases.items()
    }

    assert large == small
    assert sum(small["first page"].values()) == queues + PAGE_SIZE + 1
    assert sum(small["filtered"].values()) <= queues + SCAN_WINDOW
    assert sum(small["by id"].values()) == queues + 1
    assert small["first page"] == {"zrevrangebyscore": queues, "hmget": PAGE_SIZE + 1}
