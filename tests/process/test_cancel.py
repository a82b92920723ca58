"""Cancel with real worker subprocesses (issue 17, tests 1 and 2, and a restart).

A cancelled task never starts, even from a batch a worker already claimed;
a running one is asked to stop (cooperative flag, asyncio cancellation) or,
with terminate, its prefork child is replaced. Every one ends FAILED with
TaskCancelled, not retried.
"""

from __future__ import annotations

import signal
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

import taskqueue
from taskqueue.broker import ClaimPolicy
from taskqueue.compat import TaskResultStatus
from taskqueue.tokens import APIToken
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis
from tests.process.test_crash import _ping, _point_backend_at

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]
CANCELLED = "taskqueue.exceptions.TaskCancelled"


def status(task, task_id):
    return task.get_result(task_id).status


def assert_cancelled(task, task_id):
    result = task.get_result(task_id)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path == CANCELLED
    return result


def manager_client() -> Client:
    user = User.objects.create_user("manager", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="manage_queues"))
    return Client(headers={"Authorization": f"Token {APIToken.issue(user, 't')[1]}"})


def test_a_thousand_queued_550_cancelled_the_burst_runs_exactly_450(
    backend, run_command
):
    # Given 1,000 tasks and no worker
    results = backend.enqueue_many(tasks.add, [((i, 1), {}) for i in range(1000)])
    ids = [r.id for r in results]
    api = manager_client()
    # When 500 are cancelled through the API and 50 through the command
    for task_id in ids[:500]:
        response = api.post(f"/api/tasks/{task_id}/cancel/")
        assert response.status_code == 200, response.content
    proc = run_command("tasks", "cancel", *ids[500:550])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Cancelled") == 50
    # Then a burst worker runs exactly the other 450
    done = run_command("runworker", "--burst")
    assert done.returncode == 0, done.stderr
    for task_id in ids[:550]:
        assert_cancelled(tasks.add, task_id)
    ran = [tasks.add.get_result(task_id) for task_id in ids[550:]]
    assert {r.status for r in ran} == {TaskResultStatus.SUCCESSFUL}
    assert done.stderr.count("succeeded") == 450
    # and a finished task cannot be cancelled
    assert api.post(f"/api/tasks/{ids[600]}/cancel/").status_code == 409


def test_a_task_waiting_for_its_retry_is_taken_out(broker, run_command):
    waiting = tasks.fails_then_waits_long.enqueue()
    assert run_command("runworker", "--burst").returncode == 0
    assert broker.stats("default").scheduled == 1  # its retry, ten minutes away

    assert taskqueue.cancel(waiting.id)

    assert broker.stats("default").scheduled == 0
    result = assert_cancelled(tasks.fails_then_waits_long, waiting.id)
    assert result.errors[0].exception_class_path == "builtins.RuntimeError"


def test_a_task_in_a_claimed_batch_never_starts(backend, start_worker, tmp_path):
    # Given a batch (an eighth of the backlog) claimed behind a slow task
    slow = tasks.sleep_for.enqueue(1.5)
    markers = [tmp_path / f"m{i}" for i in range(39)]
    later = backend.enqueue_many(tasks.write_marker, [((str(m),), {}) for m in markers])
    worker = start_worker()
    wait_until(lambda: status(tasks.sleep_for, slow.id) == TaskResultStatus.RUNNING)
    assert backend.broker.stats("default").in_flight >= 2
    # When its second task is cancelled while the first runs
    assert taskqueue.cancel(later[0].id)
    assert later[0].id in backend.broker.cancels(["default"])["default"]  # in flight
    # Then it never starts; the rest run
    wait_until(lambda: all(m.exists() for m in markers[1:]), timeout=20)
    assert not markers[0].exists()
    result = assert_cancelled(tasks.write_marker, later[0].id)
    assert result.attempts == 1  # recorded once, not retried
    assert backend.broker.cancels(["default"]) == {"default": {}}
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0


@pytest.mark.parametrize(
    ("task", "seen"),
    [(tasks.stops_when_cancelled, "saw the cancel"),
     (tasks.async_waits_for_cancel, "cancelled")],
    ids=["cooperative", "async"],
)  # fmt: skip
def test_a_running_task_is_asked_to_stop_within_a_second(
    broker, start_worker, tmp_path, task, seen
):
    marker = tmp_path / "seen"
    running = task.enqueue(str(marker))
    worker = start_worker()
    wait_until(lambda: status(task, running.id) == TaskResultStatus.RUNNING)

    asked = time.monotonic()
    assert taskqueue.cancel(running.id)

    wait_until(lambda: marker.exists(), timeout=5)
    noticed = time.monotonic() - asked
    wait_until(lambda: status(task, running.id) == TaskResultStatus.FAILED)
    assert noticed < 1.0
    assert marker.read_text() == seen
    assert assert_cancelled(task, running.id).attempts == 1  # not retried
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0


def test_terminate_replaces_the_prefork_child(broker, start_worker):
    stuck = tasks.sleep_for.enqueue(60)
    worker = start_worker("--pool", "prefork", "--concurrency", "1")
    wait_until(lambda: status(tasks.sleep_for, stuck.id) == TaskResultStatus.RUNNING)

    assert taskqueue.cancel(stuck.id, terminate=True)

    wait_until(lambda: status(tasks.sleep_for, stuck.id) == TaskResultStatus.FAILED)
    assert_cancelled(tasks.sleep_for, stuck.id)
    wait_until(lambda: "exited with 77; replacing it" in worker.output)
    after = tasks.add.enqueue(2, 3)  # the fresh child runs the next task
    wait_until(lambda: status(tasks.add, after.id) == TaskResultStatus.SUCCESSFUL)
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0


def test_a_cancel_in_flight_survives_a_redis_restart(
    settings, key_prefix, start_worker, tmp_path
):
    server = PrivateRedis("--appendonly", "yes", "--appendfsync", "always").start()
    try:
        _point_backend_at(settings, server.url)
        wait_until(lambda: _ping(server.url))
        from taskqueue.backends import backend_for

        broker = backend_for().broker
        # Given a task claimed by a worker that then died, and cancelled
        marker = tmp_path / "ran"
        doomed = tasks.write_marker.enqueue(str(marker))
        policy = ClaimPolicy(max_batch=1, worker_timeout=1, result_ttl=600)
        assert len(broker.claim("default", "ghost", policy).messages) == 1
        assert taskqueue.cancel(doomed.id)
        # When Redis restarts from its AOF and a worker recovers the message
        server.kill()
        server.start()
        wait_until(lambda: _ping(server.url))
        worker = start_worker(
            env={"REDIS_URL": server.url, "TASKQUEUE_WORKER_TIMEOUT": "1"}
        )
        # Then it is still cancelled: it never runs
        wait_until(
            lambda: status(tasks.write_marker, doomed.id) == TaskResultStatus.FAILED,
            timeout=20,
        )
        assert_cancelled(tasks.write_marker, doomed.id)
        assert not marker.exists()
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        server.kill()


def test_a_running_unique_task_cancelled_frees_its_key_when_it_settles(
    broker, start_worker
):
    running = tasks.unique_sleep.enqueue(1.0, label="held")
    worker = start_worker()
    wait_until(
        lambda: status(tasks.unique_sleep, running.id) == TaskResultStatus.RUNNING
    )
    assert taskqueue.cancel(running.id)
    assert tasks.unique_sleep.enqueue(1.0, label="held").id == running.id  # held

    wait_until(
        lambda: status(tasks.unique_sleep, running.id) == TaskResultStatus.FAILED
    )
    assert_cancelled(tasks.unique_sleep, running.id)
    assert tasks.unique_sleep.enqueue(1.0, label="held").id != running.id
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
