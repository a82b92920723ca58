"""workerhealth as a liveness probe against a real worker process."""

from __future__ import annotations

import signal
import threading
from types import SimpleNamespace

import pytest

from taskqueue.worker.heartbeat import Heartbeat
from taskqueue.worker.status import Status
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def healthy(run_command, name):
    """The probe's result once it passes (for wait_until), else None."""
    proc = run_command("workerhealth", "--name", name)
    return proc if proc.returncode == 0 else None


def one_line(proc) -> str:
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    return lines[0]


@pytest.mark.usefixtures("broker")
def test_without_a_worker_it_exits_1(run_command):
    for args in ((), ("--name", "hw")):
        proc = run_command("workerhealth", *args)
        assert proc.returncode == 1, proc.stderr
        assert "unhealthy: no worker" in one_line(proc)


@pytest.mark.usefixtures("broker")
def test_a_running_worker_is_healthy_until_it_stops(run_command, start_worker):
    worker = start_worker("--name", "hw")

    probe = wait_until(lambda: healthy(run_command, "hw"), timeout=30)
    assert one_line(probe).startswith("ok: hw heartbeat")
    assert run_command("workerhealth").returncode == 0  # any worker
    other = run_command("workerhealth", "--name", "other")
    assert other.returncode == 1
    assert "no worker named 'other'" in one_line(other)

    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, worker.output

    gone = run_command("workerhealth", "--name", "hw")
    assert gone.returncode == 1
    assert one_line(gone).startswith("unhealthy:")


def test_a_beat_in_progress_cannot_bring_back_a_worker_that_removed_itself(
    broker, monkeypatch
):
    # Given a heartbeat halfway through a beat: consumer marked, info not written yet
    halfway, go_on = threading.Event(), threading.Event()
    mark = broker.heartbeat

    def mark_then_pause(queues, consumer):
        mark(queues, consumer)
        halfway.set()
        go_on.wait(10)

    monkeypatch.setattr(broker, "heartbeat", mark_then_pause)
    consumer = SimpleNamespace(id="hb.c1", status=Status())
    heartbeat = Heartbeat(
        broker=broker, name="hb", queues=["default"], consumers=lambda: [consumer],
        interval=60, extra={},
    )  # fmt: skip
    beat = threading.Thread(target=heartbeat.beat)
    beat.start()
    assert halfway.wait(10)

    # When the stopping worker removes itself meanwhile (the beat resumes soon after)
    threading.Timer(0.2, go_on.set).start()
    heartbeat.remove()
    beat.join(10)

    # Then nothing brings it back: no worker info, no consumer
    assert "hb" not in broker.workers()
    assert broker.client.zscore(broker.keys("default").consumers, "hb.c1") is None


@pytest.mark.usefixtures("broker")
def test_a_stale_heartbeat_is_unhealthy(run_command, broker):
    broker.set_worker("stuck", b'{"name": "stuck", "heartbeat_at": 1000.0}')

    proc = run_command("workerhealth", "--name", "stuck", "--max-age", "60")

    assert proc.returncode == 1
    assert "worker 'stuck' last heartbeat" in one_line(proc)


@pytest.mark.usefixtures("broker")
def test_a_prefork_child_entry_counts_for_its_worker(run_command, start_worker):
    start_worker("--name", "pf", "--pool", "prefork", "--concurrency", "2")

    probe = wait_until(lambda: healthy(run_command, "pf"), timeout=30)
    assert one_line(probe).startswith("ok: pf/")


def test_unreachable_redis_is_a_one_line_error(run_command):
    proc = run_command(
        "workerhealth", env={"REDIS_URL": DOWN_URL, "TEST_REDIS_URL": DOWN_URL}
    )

    assert proc.returncode == 2
    line = one_line(proc)
    assert line.startswith("CommandError: cannot reach Redis at redis://127.0.0.1:1/0")
