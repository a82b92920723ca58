"""Pause and resume under load, with a real worker (issue 17, test 6)."""

from __future__ import annotations

import signal
import time

import orjson
import pytest
from django.core.management import call_command

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_pause_stops_claims_within_a_second_and_resume_finishes_the_rest(
    backend, start_worker, capsys
):
    broker = backend.broker
    results = backend.enqueue_many(tasks.sleep_for, [((0.02,), {}) for _ in range(300)])
    worker = start_worker("--pool", "threads", "--concurrency", "2")
    wait_until(lambda: broker.stats("default").pending < 250, timeout=20)

    # Pause: what runs finishes, nothing more is claimed after a second
    call_command("queues", "pause", "default")
    time.sleep(1.0)  # the second the workers have to see it
    after_a_second = broker.stats("default").pending
    wait_until(lambda: broker.stats("default").in_flight == 0, timeout=10)
    left = broker.stats("default").pending
    assert left == after_a_second > 0  # no claim after the first second
    added = backend.enqueue_many(tasks.sleep_for, [((0.01,), {}) for _ in range(10)])
    deadline = time.monotonic() + 1.5  # a window in which a claim would show
    while time.monotonic() < deadline:
        stats = broker.stats("default")
        assert (stats.pending, stats.in_flight) == (left + 10, 0)
        time.sleep(0.05)
    capsys.readouterr()
    call_command("queuestats", "--json")
    assert orjson.loads(capsys.readouterr().out)["queues"][0]["paused"] is True

    # Resume: everything runs
    call_command("queues", "resume", "default")
    wait_until(lambda: broker.stats("default").pending == 0, timeout=20)
    wait_until(lambda: broker.stats("default").in_flight == 0, timeout=10)
    statuses = {tasks.sleep_for.get_result(r.id).status for r in [*results, *added]}
    assert statuses == {TaskResultStatus.SUCCESSFUL}
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
