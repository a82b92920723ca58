"""Nothing lost, nothing counted twice: workers SIGKILLed mid-run, Redis restarted."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from recipe.models import Recipe
from recipe.tasks import process_recipe
from taskqueue.backends import enqueue_many
from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import ROOT, wait_until
from tests.helpers import PrivateRedis

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

TASKS = 5000
RECIPES = 100
KILLS = 4


def processed_total() -> int:
    return Recipe.objects.aggregate(total=Sum("processed_count"))["total"] or 0


def test_sigkilled_workers_lose_nothing_and_count_nothing_twice(start_worker, broker):
    recipes = [
        Recipe(name=f"R{i}", ingredients="a\nb", instructions="Bake 20 minutes.")
        for i in range(RECIPES)
    ]
    ids = [r.id for r in Recipe.objects.bulk_create(recipes)]
    sent = [random.choice(ids) for _ in range(TASKS)]
    enqueue_many(process_recipe, [((), {"recipe_id": rid}) for rid in sent])
    started = time.monotonic()
    workers = [start_worker("--name", f"w{i}") for i in range(2)]
    recoveries = []

    for kill in range(KILLS):
        target = (kill + 1) * TASKS // (KILLS + 2) + random.randint(0, TASKS // 20)
        wait_until(lambda t=target: processed_total() >= t, timeout=120)
        victim = workers.pop(random.randrange(len(workers)))
        victim.signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        workers.append(start_worker("--name", f"r{kill}"))
        recoveries.append(killed_at)

    wait_until(lambda: processed_total() >= TASKS and broker.stats("default").in_flight == 0
               and broker.stats("default").pending == 0, timeout=180)  # fmt: skip
    elapsed = time.monotonic() - started

    expected = {rid: sent.count(rid) for rid in ids}
    actual = dict(Recipe.objects.values_list("id", "processed_count"))
    lost = sum(max(0, expected[r] - actual[r]) for r in ids)
    doubled = sum(max(0, actual[r] - expected[r]) for r in ids)
    recovered = sum(w.output.count("Recovered") for w in workers)
    _report({"tasks": TASKS, "kills": KILLS, "lost": lost, "doubled": doubled,
             "seconds": round(elapsed, 1), "recovery_log_lines": recovered,
             "database": connection.vendor})  # fmt: skip
    assert (lost, doubled) == (0, 0)
    assert actual == expected
    for worker in workers:
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


def test_redis_killed_and_restarted_mid_run_loses_nothing(
    start_worker, settings, key_prefix
):
    server = PrivateRedis("--appendonly", "yes", "--appendfsync", "always").start()
    try:
        _point_backend_at(settings, server.url)
        wait_until(lambda: _ping(server.url))
        results = enqueue_many(tasks.sleep_for, [((0.05,), {}) for _ in range(60)])
        worker = start_worker(env={"REDIS_URL": server.url})
        wait_until(lambda: _successes(results) >= 10, timeout=30)

        server.kill()
        wait_until(lambda: "Redis unavailable" in worker.output, timeout=30)
        server.start()

        wait_until(lambda: _successes(results) == len(results), timeout=60)
        wait_until(lambda: "Redis is back" in worker.output)
        assert worker.proc.poll() is None
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        server.kill()


@pytest.mark.postgres
def test_database_connection_killed_mid_run_is_retried(start_worker, broker):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: runs in the CI's PostgreSQL legs")
    recipes = Recipe.objects.bulk_create(
        [Recipe(name=f"P{i}", ingredients="a", instructions="b") for i in range(20)]
    )
    enqueue_many(
        process_recipe, [((), {"recipe_id": r.id}) for r in recipes for _ in range(20)]
    )
    worker = start_worker()
    wait_until(lambda: processed_total() >= 50, timeout=60)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    wait_until(lambda: processed_total() >= 400, timeout=120)
    assert dict(Recipe.objects.values_list("id", "processed_count")) == {
        r.id: 20 for r in recipes
    }
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0


def _point_backend_at(settings, url: str) -> None:
    tasks_setting = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks_setting["default"]["OPTIONS"] = {
        **tasks_setting["default"]["OPTIONS"],
        "REDIS_URL": url,
    }
    settings.TASKS = tasks_setting


def _ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.ConnectionError:
        return False


def _successes(results) -> int:
    try:
        return sum(
            tasks.sleep_for.get_result(r.id).status == TaskResultStatus.SUCCESSFUL
            for r in results
        )
    except Exception:  # noqa: BLE001 (Redis may be restarting while we poll)
        return 0


def _report(figures: dict) -> None:
    path = Path(ROOT) / "var" / "crash-test.json"
    path.write_text(json.dumps(figures))
    print("crash test:", figures)  # noqa: T201
