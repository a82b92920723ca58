"""issue 17, test 4: a fleet-wide concurrency cap over three worker processes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from taskqueue.backends import enqueue_many
from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

TIMEOUT = 2.0  # TASKQUEUE_WORKER_TIMEOUT of the test workers (tests/settings.py)


def stamps(path: Path) -> list[tuple[str, float]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [(name, float(t)) for name, t in (line.split() for line in lines)]


def most_running(events: list[tuple[str, float]]) -> int:
    running = most = 0
    for name, _ in sorted(events, key=lambda e: (e[1], e[0] == "start")):
        running += 1 if name == "start" else -1
        most = max(most, running)
    return most


def test_three_workers_never_run_more_than_two(start_worker, broker, tmp_path):
    path = tmp_path / "stamps"
    enqueue_many(tasks.capped_sleep, [((0.3,), {}) for _ in range(8)])
    for i in range(3):
        start_worker("--name", f"cap{i}", env={"TASKQUEUE_TEST_STAMPS": str(path)})

    wait_until(lambda: [n for n, _ in stamps(path)].count("end") == 8, timeout=30)

    assert most_running(stamps(path)) == 2


def test_a_sigkilled_holders_slot_comes_back_within_the_worker_timeout(
    start_worker, broker, tmp_path
):
    path = tmp_path / "stamps"
    enqueue_many(tasks.capped_sleep, [((6.0,), {}) for _ in range(3)])
    workers = {
        f"kill{i}": start_worker(
            "--name", f"kill{i}", env={"TASKQUEUE_TEST_STAMPS": str(path)}
        )
        for i in range(3)
    }
    slots = broker.keys("default").slots(tasks.capped_sleep.module_path)
    wait_until(lambda: broker.client.hlen(slots) == 2, timeout=20)
    holder = next(iter(broker.client.hvals(slots))).decode()
    workers[holder.rsplit(".", 1)[0]].signal(signal.SIGKILL)
    killed = time.time()

    wait_until(lambda: [n for n, _ in stamps(path)].count("start") == 3, timeout=10)

    third = sorted(t for n, t in stamps(path) if n == "start")[2]
    assert third - killed <= TIMEOUT + 0.5
