"""Failure handling with real faults: retries, limits, signals, crashes."""

from __future__ import annotations

import signal

import pytest

from recipe.models import Recipe
from taskqueue.backends import enqueue_many
from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.recovery import a_sigkilled_workers_tasks_are_run_by_another

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def status_of(task, result_id):
    return task.get_result(result_id).status


def test_an_exception_is_retried_with_backoff_then_failed_with_every_error(
    start_worker, backend
):
    result = tasks.always_fails.enqueue("boom")
    worker = start_worker()

    wait_until(
        lambda: status_of(tasks.always_fails, result.id) == TaskResultStatus.FAILED,
        timeout=20,
    )

    final = tasks.always_fails.get_result(result.id)
    assert final.attempts == 3  # max_retries=2
    assert [e.exception_class_path for e in final.errors] == ["builtins.ValueError"] * 3
    assert "ValueError: boom" in final.errors[0].traceback
    assert "retrying in" in worker.output
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0


def test_permanent_errors_and_missing_rows_are_not_retried(run_command, backend):
    from recipe.tasks import process_recipe

    permanent = tasks.permanent_failure.enqueue()
    missing = process_recipe.enqueue(recipe_id=999_999)

    done = run_command("runworker", "--burst")

    assert done.returncode == 0
    assert tasks.permanent_failure.get_result(permanent.id).attempts == 1
    gone = process_recipe.get_result(missing.id)
    assert gone.status == TaskResultStatus.FAILED
    assert gone.errors[0].exception_class_path == "recipe.models.Recipe.DoesNotExist"
    warning = next(
        line
        for line in done.stderr.splitlines()
        if missing.id in line and "failed" in line
    )
    assert "WARNING" in warning
    assert backend.broker.stats("default").scheduled == 0


def test_a_result_that_is_not_json_fails_the_task(run_command):
    result = tasks.returns_unserializable.enqueue()

    run_command("runworker", "--burst")

    final = tasks.returns_unserializable.get_result(result.id)
    assert final.status == TaskResultStatus.FAILED
    assert final.attempts == 1  # the task's bug, not a passing error: not retried
    (record,) = final.errors
    assert record.exception_class_path == "builtins.TypeError"
    assert "Task result is not serializable" in record.traceback
    assert "Traceback (most recent call last)" in record.traceback


def test_a_task_over_its_time_limit_is_stopped_and_the_next_one_runs(run_command):
    stuck = tasks.runs_forever.enqueue()
    after = tasks.add.enqueue(1, 2)

    done = run_command("runworker", "--burst", timeout=30)

    assert done.returncode == 0
    final = tasks.runs_forever.get_result(stuck.id)
    assert final.status == TaskResultStatus.FAILED
    assert (
        final.errors[0].exception_class_path == "taskqueue.exceptions.TimeLimitExceeded"
    )
    assert tasks.add.get_result(after.id).return_value == 3


def test_sigterm_finishes_the_running_task_and_hands_back_the_rest(
    start_worker, broker
):
    results = enqueue_many(tasks.sleep_for, [((1.0,), {}) for _ in range(6)])
    worker = start_worker("--name", "graceful")
    wait_until(
        lambda: status_of(tasks.sleep_for, results[0].id) == TaskResultStatus.RUNNING
    )

    worker.signal(signal.SIGTERM)

    assert worker.wait(timeout=15) == 0
    statuses = [status_of(tasks.sleep_for, r.id) for r in results]
    assert statuses[0] == TaskResultStatus.SUCCESSFUL
    assert TaskResultStatus.RUNNING not in statuses
    stats = broker.stats("default")
    assert stats.in_flight == 0
    assert stats.pending == statuses.count(TaskResultStatus.READY)
    head = broker.client.lindex(broker.keys("default").pending, 0)
    first_ready = next(
        r.id
        for r, s in zip(results, statuses, strict=True)
        if s == TaskResultStatus.READY
    )
    assert first_ready.encode() in head  # handed back at the head, in order

    follower = start_worker("--burst")
    assert follower.wait(timeout=30) == 0
    assert all(
        status_of(tasks.sleep_for, r.id) == TaskResultStatus.SUCCESSFUL for r in results
    )


def test_a_killed_workers_tasks_are_recovered_by_another_worker(start_worker, broker):
    a_sigkilled_workers_tasks_are_run_by_another(start_worker, broker)


def test_a_message_redelivered_too_often_is_dead_lettered(start_worker, broker):
    recipe = Recipe.objects.create(name="Pie", ingredients="a", instructions="b")
    from recipe.tasks import process_recipe

    result = process_recipe.enqueue(recipe_id=recipe.id)
    raw = broker.client.lindex(broker.keys("default").pending, 0)
    broker.client.hset(broker.keys("default").redelivered, raw, 5)

    worker = start_worker("--burst")

    assert worker.wait(timeout=30) == 0
    assert "redelivered 5 times" in worker.output
    assert process_recipe.get_result(result.id).status == TaskResultStatus.FAILED
    recipe.refresh_from_db()
    assert recipe.processed_count == 0
