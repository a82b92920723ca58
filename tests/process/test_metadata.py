"""Progress a task publishes while it runs, read from another process (#141)."""

from __future__ import annotations

import pytest

import taskqueue
from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_progress_saved_by_a_running_task_is_read_by_another_process(
    start_worker, backend, tmp_path
):
    marker = tmp_path / "go"
    result = tasks.reports_progress.using(metadata={"label": "resize"}).enqueue(
        str(marker), 4
    )
    start_worker()

    running = wait_until(
        lambda: (r := backend.get_result(result.id)).metadata.get("progress") == 0 and r
    )
    marker.touch()
    done = taskqueue.wait(result, timeout=20)

    assert running.status == "RUNNING"
    assert running.metadata == {"label": "resize", "progress": 0}
    assert done.return_value == "resize"
    assert done.metadata == {"label": "resize", "progress": 100}
