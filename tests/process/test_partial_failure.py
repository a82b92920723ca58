"""Faults just outside the crash suites: each produced for real (issue 14)."""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection

from recipe.models import Recipe
from taskqueue.backends import enqueue_many
from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis, TcpProxy
from tests.process.test_crash import _ping, _point_backend_at

OUTAGE = 3.0  # seconds; a task's retries (none here) would be spent at once

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def processed_total() -> int:
    return sum(Recipe.objects.values_list("processed_count", flat=True))


@pytest.mark.postgres
def test_a_database_outage_spends_no_attempt_and_loses_no_task(start_worker):
    """The database unreachable for seconds under load: every task runs once."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: runs in the CI's PostgreSQL legs")
    recipes = Recipe.objects.bulk_create(
        [Recipe(name=f"P{i}", ingredients="a", instructions="b") for i in range(300)]
    )
    results = enqueue_many(tasks.count_once, [((r.id,), {}) for r in recipes])
    s = connection.settings_dict
    proxy = TcpProxy(int(s["PORT"] or 5432))
    url = f"postgres://{s['USER'] or ''}@127.0.0.1:{proxy.port}/{s['NAME']}"
    try:
        worker = start_worker(env={"DATABASE_URL": url})
        wait_until(lambda: processed_total() >= 30, timeout=60)
        proxy.cut()
        wait_until(lambda: "Database unavailable" in worker.output, timeout=30)
        cut_at = processed_total()
        time.sleep(OUTAGE)  # the fault's length, not a wait for a condition
        proxy.restore()
        wait_until(lambda: processed_total() == 300, timeout=120)
    finally:
        proxy.close()

    assert cut_at < 300
    assert set(Recipe.objects.values_list("processed_count", flat=True)) == {1}
    statuses = {tasks.count_once.get_result(r.id).status for r in results}
    assert statuses == {TaskResultStatus.SUCCESSFUL}
    assert worker.output.count("Database unavailable") == 1
    assert "Database is back" in worker.output


def _statuses(results) -> list[str]:
    return [tasks.sleep_for.get_result(r.id).status for r in results]


def test_a_stalled_worker_that_resumes_rewrites_no_finished_result(start_worker):
    """SIGSTOP past the timeout; its batch is recovered and finished elsewhere."""
    results = enqueue_many(tasks.sleep_for, [((0.2,), {}) for _ in range(40)])
    stalled = start_worker()
    wait_until(lambda: stalled.output.count("Task succeeded") >= 2, timeout=30)
    stalled.signal(signal.SIGSTOP)
    start_worker()
    wait_until(lambda: set(_statuses(results)) == {"SUCCESSFUL"}, timeout=90)

    before = stalled.output.count("Task succeeded")
    stalled.signal(signal.SIGCONT)
    wait_until(lambda: stalled.output.count("Task succeeded") >= before + 2)

    assert set(_statuses(results)) == {"SUCCESSFUL"}


def test_a_redis_restarted_from_an_old_snapshot_strands_nothing(start_worker, settings):
    """The snapshot holds a live consumer's in-flight list from back then."""
    server = PrivateRedis().start()
    try:
        _point_backend_at(settings, server.url)
        wait_until(lambda: _ping(server.url))
        early = tasks.sleep_for.enqueue(1.5)
        worker = start_worker(
            env={"REDIS_URL": server.url, "TEST_REDIS_URL": server.url}
        )
        wait_until(lambda: tasks.sleep_for.get_result(early.id).status == "RUNNING")
        redis_of(server).save()  # in flight, as the snapshot has it
        wait_until(lambda: tasks.sleep_for.get_result(early.id).status == "SUCCESSFUL")
        late = tasks.sleep_for.enqueue(2.0)
        wait_until(lambda: tasks.sleep_for.get_result(late.id).status == "RUNNING")

        server.kill()  # and back, from the snapshot: early is in flight again
        server.start()
        wait_until(lambda: _ping(server.url))

        wait_until(
            lambda: tasks.sleep_for.get_result(early.id).status == "SUCCESSFUL",
            timeout=30,
        )
        wait_until(lambda: _in_flight(server) == 0, timeout=30)
        assert worker.proc.poll() is None
    finally:
        server.kill()


def test_a_memory_limit_below_a_fresh_child_is_ignored_with_a_warning(run_command):
    results = enqueue_many(tasks.add, [((i, i), {}) for i in range(200)])

    done = run_command(
        "runworker", "--burst", "--pool", "prefork", "--concurrency", "1",
        "--max-memory-per-child", "1000", timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    assert {tasks.add.get_result(r.id).status for r in results} == {"SUCCESSFUL"}
    assert "below this child's size at start" in done.stderr
    assert "replacing it" not in done.stderr


def test_result_times_come_from_the_redis_clock(run_command, broker):
    result = tasks.add.enqueue(1, 2)

    done = run_command("runworker", "--burst", env={"TQ_TEST_CLOCK_SKEW": "300"})

    assert done.returncode == 0, done.stderr
    seconds, micros = broker.client.time()
    finished = tasks.add.get_result(result.id).finished_at.timestamp()
    assert abs(finished - (seconds + micros / 1e6)) < 30


def test_the_first_settles_on_a_fresh_server_find_their_script(start_worker, settings):
    server = PrivateRedis().start()
    try:
        _point_backend_at(settings, server.url)
        wait_until(lambda: _ping(server.url))
        worker = start_worker(
            env={"REDIS_URL": server.url, "TEST_REDIS_URL": server.url}
        )
        wait_until(lambda: "broker:" in worker.output)
        results = enqueue_many(tasks.add, [((i, 1), {}) for i in range(50)])
        wait_until(lambda: all(_status(r) == "SUCCESSFUL" for r in results))

        errors = redis_of(server).info("errorstats")
        assert "errorstat_NOSCRIPT" not in errors, errors
    finally:
        server.kill()


def test_the_heartbeat_outlives_a_server_out_of_memory(start_worker, settings):
    """A task runs through 2.5 s of refused writes: nobody recovers and re-runs it."""
    server = PrivateRedis("--maxmemory-policy", "noeviction").start()
    env = {
        "REDIS_URL": server.url, "TEST_REDIS_URL": server.url,
        "TASKQUEUE_WORKER_TIMEOUT": "5",
    }  # fmt: skip
    try:
        _point_backend_at(settings, server.url)
        wait_until(lambda: _ping(server.url))
        long = tasks.sleep_for.enqueue(8.0)
        first = start_worker(env=env)
        wait_until(lambda: tasks.sleep_for.get_result(long.id).status == "RUNNING")
        second = start_worker(env=env)
        wait_until(lambda: second.output.count("broker:") == 1)
        redis_of(server).config_set("maxmemory", 1)
        time.sleep(2.5)  # the fault's length, not a wait for a condition
        redis_of(server).config_set("maxmemory", 0)

        wait_until(lambda: _status(long) == "SUCCESSFUL", timeout=30)
        assert tasks.sleep_for.get_result(long.id).attempts == 1
        assert first.output.count("Task received") == 1
        assert "Recovered" not in second.output
        assert second.proc.poll() is None, second.output[-2000:]
    finally:
        server.kill()


def redis_of(server):
    import redis

    return redis.Redis.from_url(server.url)


def _in_flight(server) -> int:
    client = redis_of(server)
    return sum(client.llen(key) for key in client.scan_iter(match="*inflight*"))


def _status(result) -> str:
    return result.task.get_result(result.id).status


@pytest.mark.parametrize(
    "stuck",
    [tasks.holds_the_gil, tasks.async_swallows_cancel, tasks.async_blocks_its_loop],
)
def test_a_task_that_defeats_its_time_limit_is_stopped_from_outside(run_command, stuck):
    """Prefork: the supervisor (or watchdog) stops it; the tasks after it run."""
    held = stuck.enqueue()
    after = [tasks.add.enqueue(i, 1) for i in range(5)]

    done = run_command(
        "runworker", "--burst", "--pool", "prefork", "--concurrency", "1", timeout=60
    )

    assert done.returncode == 0, done.stderr[-3000:]
    final = stuck.get_result(held.id)
    assert final.status == TaskResultStatus.FAILED
    assert final.errors[-1].exception_class_path == (
        "taskqueue.exceptions.TimeLimitExceeded"
    )
    assert {tasks.add.get_result(r.id).status for r in after} == {"SUCCESSFUL"}


def test_a_consumer_thread_that_dies_strands_nothing(start_worker):
    """Threads pool: the dead thread's batch comes back at once, a new one runs it."""
    results = enqueue_many(tasks.add, [((i, i), {}) for i in range(400)])

    worker = start_worker(
        "--pool", "threads", "--concurrency", "4", env={"TQ_TEST_CONSUMER_DIES": "1"}
    )

    wait_until(
        lambda: set(_statuses_of(tasks.add, results)) == {"SUCCESSFUL"}, timeout=60
    )
    assert "died; handing back its messages" in worker.output
    assert "Started consumer" in worker.output
    wait_until(lambda: worker.output.count("Returned") >= 1)
    assert worker.proc.poll() is None


def _statuses_of(task, results) -> list[str]:
    return [task.get_result(r.id).status for r in results]
