"""An idle worker stops at once: its blocking waits do not delay a SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import time

import orjson
import pytest
import redis

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until
from tests.helpers import PrivateRedis

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

STOP_WITHIN = 0.5  # seconds; Django's own test_interrupt_no_tasks expects this


def newest_client_id(broker) -> int:
    return max(int(c["id"]) for c in broker.client.client_list())


def blocked_since(broker, baseline: int) -> int:
    """Clients in BLMOVE that connected after baseline (the worker's, in an own server)."""
    return sum(
        1
        for c in broker.client.client_list()
        if int(c["id"]) > baseline and c.get("cmd") == "blmove"
    )


@pytest.fixture
def own_server(key_prefix):
    """A Redis of this test's own: the shared one has other tests' blocked clients."""
    from taskqueue.broker import Broker

    server = PrivateRedis().start()
    try:
        broker = Broker.connect(server.url, prefix=key_prefix)
        wait_until(lambda: _pings(broker))
        yield server, broker
    finally:
        server.kill()


def _pings(broker) -> bool:
    try:
        return bool(broker.client.ping())
    except redis.RedisError:
        return False


def registered(broker, queues) -> bool:
    return bool(broker.workers()) or any(
        broker.client.zcard(broker.keys(q).consumers) for q in queues
    )


@pytest.mark.parametrize(
    ("pool", "signum", "blocking"),
    [("solo", signal.SIGTERM, 2), ("prefork", signal.SIGINT, 4)],
)
def test_an_idle_worker_on_two_queues_stops_within_half_a_second(
    start_worker, own_server, pool, signum, blocking
):
    # Given an idle worker blocked on two queues (prefork: two children, two each)
    server, broker = own_server
    baseline = newest_client_id(broker)
    worker = start_worker(
        "--pool", pool, "--concurrency", "2", "--queue", "default", "--queue", "high",
        env={"REDIS_URL": server.url, "TEST_REDIS_URL": server.url},
    )  # fmt: skip
    wait_until(lambda: blocked_since(broker, baseline) >= blocking, timeout=30)

    # When it is asked to stop
    started = time.monotonic()
    worker.signal(signum)
    wait_until(lambda: worker.proc.poll() is not None, timeout=10, interval=0.01)
    elapsed = time.monotonic() - started

    # Then it exits 0 within half a second, said so, and left nothing registered
    assert worker.proc.returncode == 0, worker.output
    assert elapsed <= STOP_WITHIN, f"{elapsed:.3f}s\n{worker.output}"
    assert "stopping (Ctrl-C again to force)" in worker.output
    assert not registered(broker, ("default", "high"))


def test_ctrl_c_twice_forces_the_stop_but_leaves_no_worker_listed(start_worker, broker):
    # Given a worker running a long task
    result = tasks.sleep_for.enqueue(30.0)
    worker = start_worker("--name", "forced")
    wait_until(
        lambda: tasks.sleep_for.get_result(result.id).status == TaskResultStatus.RUNNING
    )

    # When the user presses Ctrl-C, then Ctrl-C again
    worker.signal(signal.SIGINT)
    wait_until(lambda: "stopping (Ctrl-C again to force)" in worker.output)
    worker.signal(signal.SIGINT)

    # Then it exits at once with 1, and the worker list does not show it
    assert worker.wait(timeout=5) == 1, worker.output
    assert "forced" not in broker.workers()
    assert broker.stats("default").in_flight == 1  # recovery hands the task back later


def test_a_sigterm_after_ctrl_c_lets_the_clean_stop_finish(start_worker, broker):
    # Given a worker running a task, already stopping after the user's Ctrl-C
    result = tasks.sleep_for.enqueue(1.0)
    worker = start_worker("--name", "supervised")
    wait_until(
        lambda: tasks.sleep_for.get_result(result.id).status == TaskResultStatus.RUNNING
    )
    worker.signal(signal.SIGINT)
    wait_until(lambda: "stopping (Ctrl-C again to force)" in worker.output)

    # When a supervisor (make run, systemd) sends SIGTERM as well
    worker.signal(signal.SIGTERM)

    # Then the task still finishes and the worker deregisters and exits 0
    assert worker.wait(timeout=15) == 0, worker.output
    assert tasks.sleep_for.get_result(result.id).status == TaskResultStatus.SUCCESSFUL
    assert not registered(broker, ("default", "high"))


def test_a_forced_prefork_stop_leaves_only_the_consumer_that_holds_a_task(
    start_worker, broker
):
    # Given a prefork worker: one child running a long task, the other idle
    result = tasks.sleep_for.enqueue(30.0)
    worker = start_worker("--pool", "prefork", "--concurrency", "2", "--name", "forced")
    wait_until(
        lambda: tasks.sleep_for.get_result(result.id).status == TaskResultStatus.RUNNING
    )
    infos = wait_until(lambda: _two_children(broker))
    idle = next(info["pid"] for info in infos if not info["running"])
    os.kill(idle, signal.SIGSTOP)  # it cannot deregister before the forced stop

    # When the user presses Ctrl-C twice (the children ignore SIGINT)
    worker.signal(signal.SIGINT)
    wait_until(lambda: "stopping (Ctrl-C again to force)" in worker.output)
    worker.signal(signal.SIGINT)

    # Then no worker is listed, the idle child's consumer is gone, and the busy
    # one stays registered with its task, for recovery to hand back
    assert worker.wait(timeout=5) == 1, worker.output
    assert broker.workers() == {}
    assert broker.client.zcard(broker.keys("default").consumers) == 1
    assert broker.stats("default").in_flight == 1


def _two_children(broker) -> list[dict] | None:
    infos = [orjson.loads(raw) for raw in broker.workers().values()]
    return infos if len(infos) == 2 and any(i["running"] for i in infos) else None
