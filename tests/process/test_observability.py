"""The worker's JSON logs and its own /metrics endpoint."""

from __future__ import annotations

import json
import signal
import urllib.request

import pytest

from tests import tasks
from tests.conftest import wait_until
from tests.helpers import free_port

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_json_logs_are_one_object_per_line_with_task_fields(run_command):
    result = tasks.add.enqueue(1, 2)

    done = run_command("runworker", "--burst", "--log-format", "json")

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    succeeded = [entry for entry in lines if entry.get("outcome") == "succeeded"]
    assert len(succeeded) == 1
    assert succeeded[0]["task_id"] == result.id
    assert succeeded[0]["task"] == "tests.tasks.add"
    assert succeeded[0]["queue"] == "default"
    assert succeeded[0]["duration"] >= 0


def test_the_worker_serves_prometheus_metrics(start_worker):
    port = free_port()
    worker = start_worker("--metrics-port", str(port), "--name", "metered")
    url = f"http://127.0.0.1:{port}/metrics"
    tasks.add.enqueue(2, 2)

    body = wait_until(lambda: _scrape_when(url, 'status="succeeded"'), timeout=20)

    assert (
        'taskqueue_tasks_total{status="succeeded",task="tests.tasks.add"} 1.0' in body
    )
    assert 'taskqueue_queue_messages{queue="default",state="pending"} 0.0' in body
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0


def _scrape_when(url: str, needle: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            body = response.read().decode()
    except OSError:
        return None
    return body if needle in body else None
