"""The task page's Retry with a real worker subprocess (issue 19): the linked
new task is run by the worker, and each attempt's span is what it recorded."""

from __future__ import annotations

import pytest

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_a_retry_from_the_page_is_run_by_the_worker_and_linked_back(
    admin_client, start_worker, tmp_path
):
    path = tmp_path / "needed"
    task = tasks.fails_until_file_exists
    failed = task.enqueue(str(path))
    worker = start_worker()
    wait_until(lambda: task.get_result(failed.id).status == TaskResultStatus.FAILED)
    path.touch()

    answer = admin_client.post(
        f"/admin/queues/tasks/{failed.id}/action/", {"action": "retry"}, follow=True
    )

    (said,) = [str(m) for m in answer.context["messages"]]
    new_id = said.rsplit(" ", 1)[1].rstrip(".")
    wait_until(lambda: task.get_result(new_id).status == TaskResultStatus.SUCCESSFUL)
    new_page = admin_client.get(f"/admin/queues/tasks/{new_id}/")
    assert new_page.context["retry_of"]["id"] == failed.id
    (attempt,) = new_page.context["attempts"]
    assert f".{worker.proc.pid}." in attempt["worker"]  # the subprocess ran it
    assert attempt["start"] <= attempt["finish"]
    old_page = admin_client.get(f"/admin/queues/tasks/{failed.id}/")
    assert [r["id"] for r in old_page.context["retried_as"]] == [new_id]
    worker.stop()
