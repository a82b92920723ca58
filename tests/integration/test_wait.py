"""taskqueue.wait() and ?wait=: the result as soon as it is stored, no polling."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import taskqueue
from taskqueue.compat import TaskResultDoesNotExist, TaskResultStatus
from taskqueue.exceptions import WaitTimeout
from tests import tasks
from tests.inprocess import InProcessWorker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(broker):
    w = InProcessWorker(broker)
    yield w
    w.close()


def test_wait_returns_a_finished_task_at_once(broker, worker):
    result = tasks.add.enqueue(2, 3)
    worker.run_until(lambda: broker.result_record(result.id, ["default"]))
    worker.step()

    started = time.monotonic()
    finished = taskqueue.wait(result, timeout=5)

    assert time.monotonic() - started < 0.1
    assert finished.status == TaskResultStatus.SUCCESSFUL
    assert finished.return_value == 5


def test_wait_wakes_when_another_thread_settles(broker, worker):
    def one_round() -> float:
        result = tasks.add.enqueue(1, 1)
        settled_at: list[float] = []

        def settle_later() -> None:
            time.sleep(0.2)
            worker.step()
            settled_at.append(time.monotonic())

        thread = threading.Thread(target=settle_later)
        thread.start()
        finished = taskqueue.wait(result.id, timeout=5)
        woke_at = time.monotonic()
        thread.join()
        assert finished.return_value == 2
        return woke_at - settled_at[0]

    # The best of three: a loaded machine may deschedule a thread for a
    # moment, but without the settle's token no round returns before 5 s.
    assert min(one_round() for _ in range(3)) < 0.05


def test_wait_times_out_with_a_timeout_error_and_leaves_no_waiter(broker, backend):
    result = tasks.add.enqueue(1, 2)

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.2s") as info:
        taskqueue.wait(result, timeout=0.2)

    assert isinstance(info.value, WaitTimeout)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert not broker.client.exists(broker.keys("default").waiting)


def test_wait_on_an_unknown_id_says_it_does_not_exist(backend):
    with pytest.raises(TaskResultDoesNotExist):
        taskqueue.wait("no-such-task", timeout=1)


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), "5", True, None])
def test_wait_refuses_a_timeout_that_is_not_seconds(backend, timeout):
    result = tasks.add.enqueue(1, 2)

    with pytest.raises(ValueError, match="timeout must be"):
        taskqueue.wait(result, timeout=timeout)


def test_wait_refuses_what_is_not_a_result(backend):
    with pytest.raises(TypeError, match="TaskResult or a task id"):
        taskqueue.wait(42, timeout=1)


def test_async_wait_returns_the_result(broker, worker):
    result = tasks.add.enqueue(3, 4)
    worker.run_until(
        lambda: (
            broker.result_record(result.id, ["default"])[0].get(b"status")
            == b"SUCCESSFUL"
        )
    )

    finished = asyncio.run(taskqueue.async_wait(result, timeout=5))

    assert finished.return_value == 7


def test_a_settle_with_no_waiter_writes_no_wake_key(broker, worker):
    result = tasks.add.enqueue(1, 1)
    worker.run_until(
        lambda: broker.result_record(result.id, ["default"])[0].get(b"status")
    )
    worker.step()

    k = broker.keys("default")
    assert not broker.client.exists(k.waiting, k.waiting_for(result.id))
