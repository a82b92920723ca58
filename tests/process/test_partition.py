"""A worker cut off from Redis mid-run (issue 20, test 3): three workers, each
behind its own TCP proxy to Redis; one is cut for 3 x the worker timeout.

Its in-flight tasks are recovered and run by the others, its late settle
records nothing for them (the settle script's fencing, proven alone in
tests/integration/test_partition_fencing.py), and when the network heals it
carries on without a restart. Effects happen once: count_once's
processed_count is 1 for every recipe.
"""

from __future__ import annotations

import time

import pytest

from recipe.models import Recipe
from taskqueue.backends import enqueue_many
from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis, TcpProxy
from tests.process.test_crash import _ping, _point_backend_at

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]
WORKER_TIMEOUT = 2.0  # tests/settings.py's TASKQUEUE_WORKER_TIMEOUT
CUT = 3 * WORKER_TIMEOUT


def wave(count: int, name: str) -> tuple[list[Recipe], list[str]]:
    recipes = Recipe.objects.bulk_create(
        [Recipe(name=f"{name}{i}", ingredients="a", instructions="b")
         for i in range(count)]
    )  # fmt: skip
    results = enqueue_many(
        tasks.count_once_slowly, [((r.id, 0.05), {}) for r in recipes]
    )
    return recipes, [result.id for result in results]


def succeeded(task_id: str) -> bool:
    return tasks.count_once_slowly.get_result(task_id).status == (
        TaskResultStatus.SUCCESSFUL
    )


@pytest.mark.usefixtures("key_prefix")
def test_a_worker_cut_off_loses_nothing_and_carries_on(start_worker, settings):
    # A TCP server of its own: the proxies need a port (the embedded server of a
    # machine without Redis listens on a Unix socket).
    server = PrivateRedis().start()
    _point_backend_at(settings, server.url)
    wait_until(lambda: _ping(server.url))
    proxies = [TcpProxy(server.port) for _ in range(3)]
    try:
        workers = [
            start_worker(
                "--queue", "default",
                env={"REDIS_URL": f"redis://127.0.0.1:{p.port}/0"},
            )
            for p in proxies
        ]  # fmt: skip
        recipes, ids = wave(150, "A")
        cut, others = workers[0], workers[1:]
        wait_until(lambda: "Task received" in cut.output, timeout=30)
        proxies[0].cut()
        time.sleep(CUT)  # the partition's length, not a wait for a condition
        proxies[0].restore()
        wait_until(lambda: all(succeeded(i) for i in ids), timeout=60)
        wait_until(lambda: "Redis is back" in cut.output, timeout=30)

        later_recipes, later = wave(90, "B")
        # It resumes: runs tasks enqueued after the heal, with no restart.
        wait_until(lambda: any(i in cut.output for i in later), timeout=30)
        wait_until(lambda: all(succeeded(i) for i in later), timeout=60)
    finally:
        for proxy in proxies:
            proxy.close()
        server.kill()

    counts = Recipe.objects.filter(
        id__in=[r.id for r in recipes + later_recipes]
    ).values_list("processed_count", flat=True)
    assert sorted(set(counts)) == [1]  # 0 lost, effects once
    assert any("Recovered" in w.output for w in others)  # the cut one's tasks
    assert "Redis unavailable" in cut.output
    assert cut.proc.poll() is None
