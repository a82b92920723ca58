"""The task list on a real Redis Cluster: the settle indexes in the queue's slot,
and one page reads two queues that live in different slots."""

from __future__ import annotations

import re

import pytest

from tests import tasks

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


@pytest.mark.process
def test_the_task_list_pages_over_queues_in_different_slots(
    run_command, broker, admin_client
):
    added = tasks.add.enqueue(2, 3)
    high = tasks.high_add.enqueue(4, 5)
    assert run_command("runworker", "--burst").returncode == 0

    page = admin_client.get("/admin/queues/tasks/").content.decode()

    assert set(re.findall(r'data-task-id="([^"]+)"', page)) == {added.id, high.id}
    by_id = admin_client.get("/admin/queues/tasks/", {"id": high.id}).content.decode()
    assert re.findall(r'data-task-id="([^"]+)"', by_id) == [high.id]
