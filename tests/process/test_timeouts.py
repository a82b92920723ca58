"""#144 timeouts in every pool, with real worker processes (keep each short)."""

from __future__ import annotations

import pytest

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

POOLS = {
    "solo": ("--pool", "solo"),
    "threads": ("--pool", "threads", "--concurrency", "2"),
    "prefork": ("--pool", "prefork", "--concurrency", "1"),
}
TIMED_OUT = "taskqueue.exceptions.TimeLimitExceeded"  # a TaskTimeout


def finished(task, result):
    def check():
        stored = task.get_result(result.id)
        return stored if stored.is_finished else None

    return check


@pytest.mark.parametrize("pool", POOLS)
def test_task_timeout_is_raised_inside_the_task_then_failed_and_retried(
    start_worker, pool
):
    soft = tasks.catches_its_soft_timeout.enqueue()
    hard = tasks.loops_past_its_timeout.enqueue()
    start_worker(*POOLS[pool])

    caught = wait_until(finished(tasks.catches_its_soft_timeout, soft), timeout=20)
    failed = wait_until(finished(tasks.loops_past_its_timeout, hard), timeout=20)

    assert caught.return_value == "TaskTimeout TimeoutError=True"
    assert failed.status == TaskResultStatus.FAILED
    assert failed.attempts == 2  # max_attempts=2: timed out, retried, timed out
    assert [e.exception_class_path for e in failed.errors] == [TIMED_OUT] * 2


def test_an_async_task_is_cancelled_at_its_timeout(start_worker):
    hard = tasks.async_loops_past_its_timeout.enqueue()
    soft = tasks.async_catches_its_soft_timeout.enqueue()
    start_worker()

    failed = wait_until(finished(tasks.async_loops_past_its_timeout, hard), 20)
    swallowed = wait_until(finished(tasks.async_catches_its_soft_timeout, soft), 20)

    assert failed.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in failed.errors] == [TIMED_OUT] * 2
    assert swallowed.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in swallowed.errors] == [
        "taskqueue.exceptions.TaskTimeout"
    ]


def test_a_thread_that_ignores_its_timeout_gets_the_process_replaced(
    start_worker, broker
):
    deaf = tasks.ignores_time_limit.enqueue()
    worker = start_worker("--pool", "threads", "--concurrency", "1")

    failed = wait_until(finished(tasks.ignores_time_limit, deaf), timeout=20)
    after = tasks.add.enqueue(1, 2)
    done = wait_until(finished(tasks.add, after), timeout=20)

    assert [e.exception_class_path for e in failed.errors] == [TIMED_OUT]
    assert done.return_value == 3
    assert worker.proc.poll() is None  # the same process, replaced in place
    assert "replacing this process" in worker.output
