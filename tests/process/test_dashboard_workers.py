"""The dashboard's worker table against real worker processes (#19).

A running task shows its path, id (linked) and progress; a worker that
exits cleanly (SIGTERM) leaves the list at once; a SIGKILLed one stays,
marked lost, once its heartbeat is older than WORKER_TIMEOUT (2 s in tests).
"""

from __future__ import annotations

import signal
import time

import pytest

from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

DATA = "/admin/queues/data/"


def _workers(admin_client):
    return admin_client.get(DATA).json()["workers"]


def test_running_task_then_clean_exit_leaves_the_list_at_once(
    start_worker, admin_client, tmp_path
):
    marker = tmp_path / "go"
    result = tasks.reports_progress.using(metadata={"label": "resize"}).enqueue(
        str(marker), 2
    )
    worker = start_worker()

    html = wait_until(
        lambda: "progress=0" in (h := admin_client.get(DATA).json()["html"]) and h,
        timeout=15,
    )
    assert "tests.tasks.reports_progress" in html
    assert f'<a href="/admin/queues/tasks/{result.id}/">{result.id}</a>' in html
    assert "running for " in html
    [row] = _workers(admin_client)
    assert row["lost"] is False
    assert row["pool"] == "solo"
    assert row["tasks"][0]["task"] == "tests.tasks.reports_progress"

    marker.touch()
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    stopped = time.monotonic()
    wait_until(lambda: _workers(admin_client) == [], timeout=1.0)
    assert time.monotonic() - stopped < 1.0
    assert "No live workers" in admin_client.get("/admin/queues/").content.decode()


def test_a_killed_worker_is_marked_lost_within_the_timeout(start_worker, admin_client):
    worker = start_worker()
    wait_until(
        lambda: [w["lost"] for w in _workers(admin_client)] == [False], timeout=15
    )

    worker.signal(signal.SIGKILL)
    worker.wait(timeout=5)
    killed = time.monotonic()
    wait_until(lambda: [w["lost"] for w in _workers(admin_client)] == [True], timeout=6)

    assert time.monotonic() - killed <= 2 + 3  # WORKER_TIMEOUT + one beat's slack
    assert "<strong" in admin_client.get(DATA).json()["html"]
