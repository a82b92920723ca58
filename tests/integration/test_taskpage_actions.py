"""The task page's Retry, Cancel and Requeue forms (issue 19): what each does,
and that each needs ``manage_queues`` and a CSRF token."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from taskqueue.compat import TaskResultStatus
from taskqueue.results import ResultRecord
from tests import tasks
from tests.inprocess import InProcessWorker

pytestmark = pytest.mark.django_db(transaction=True)


def page_url(task_id: str) -> str:
    return f"/admin/queues/tasks/{task_id}/"


def action_url(task_id: str) -> str:
    return f"/admin/queues/tasks/{task_id}/action/"


@pytest.fixture
def worker(broker):
    consumer = InProcessWorker(broker)
    yield consumer
    consumer.close()


def status_of(result):
    return result.task.get_result(result.id).status


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_retry_enqueues_the_same_call_linked_both_ways_and_it_runs(
    admin_client, worker, tmp_path, broker
):
    path = tmp_path / "needed"
    failed = tasks.fails_until_file_exists.using(priority=3).enqueue(str(path))
    worker.run_until(lambda: status_of(failed) == TaskResultStatus.FAILED)
    path.touch()

    answer = admin_client.post(action_url(failed.id), {"action": "retry"}, follow=True)

    assert answer.redirect_chain == [(page_url(failed.id), 302)]
    (said,) = _messages(answer)
    assert said.startswith(f"Retried task {failed.id} as task ")
    new_id = said.rsplit(" ", 1)[1].rstrip(".")
    assert f'<td class="tq-retried-as"><a href="{page_url(new_id)}">{new_id}</a>' in (
        answer.content.decode()
    )
    stored = ResultRecord.parse(*broker.result_record(new_id, ["default"]))
    assert stored.enqueued_by == str(
        User.objects.get(username="admin").pk
    )  # who pressed it
    retried = tasks.fails_until_file_exists.get_result(new_id)
    assert (retried.args, retried.task.priority, retried.task.queue_name) == (
        [str(path)], 3, "default",
    )  # fmt: skip
    worker.run_until(
        lambda: (
            tasks.fails_until_file_exists.get_result(new_id).status
            == TaskResultStatus.SUCCESSFUL
        )
    )
    new_page = admin_client.get(page_url(new_id)).content.decode()
    assert (
        f'<td class="tq-retry-of"><a href="{page_url(failed.id)}">{failed.id}</a>'
        in (new_page)
    )
    assert '<pre class="tq-return">&quot;found it&quot;</pre>' in new_page


def test_retry_never_enqueues_a_task_path_that_is_not_registered(admin_client, broker):
    key = broker.keys("default").result("forged")
    msg = b'{"v":1,"id":"forged","task":"os.system","queue":"default","args":["id"],"kwargs":{}}'
    broker.client.hset(key, mapping={"msg": msg, "status": "FAILED"})

    answer = admin_client.post(action_url("forged"), {"action": "retry"}, follow=True)

    assert _messages(answer) == [
        "Task forged cannot be retried: task 'os.system' is not registered here."
    ]
    assert broker.stats("default").pending == 0
    assert not [f for f in broker.client.hkeys(key) if f.startswith(b"retried_as")]


def test_cancel_takes_a_queued_task_out(admin_client):
    queued = tasks.add.enqueue(1, 2)

    answer = admin_client.post(action_url(queued.id), {"action": "cancel"}, follow=True)

    assert _messages(answer) == [f"Cancelled task {queued.id}."]
    assert status_of(queued) == TaskResultStatus.FAILED
    assert 'value="cancel"' not in answer.content.decode()  # finished: no button


def test_requeue_puts_a_dead_lettered_task_back(admin_client, worker, broker):
    poisoned = tasks.add.enqueue(1)  # add takes two: the worker dead-letters it
    worker.run_until(lambda: broker.stats("default").dead == 1)
    page = admin_client.get(page_url(poisoned.id)).content.decode()
    (dead_id,) = broker.dead_letter_ids("default")
    assert f'<td class="tq-dead">{dead_id} (queue default)</td>' in page
    assert 'value="requeue"' in page

    answer = admin_client.post(
        action_url(poisoned.id), {"action": "requeue"}, follow=True
    )

    assert _messages(answer) == [
        f"Requeued task {poisoned.id} (dead letter {dead_id})."
    ]
    assert (broker.stats("default").dead, broker.stats("default").pending) == (0, 1)
    assert 'value="requeue"' not in answer.content.decode()
    again = admin_client.post(
        action_url(poisoned.id), {"action": "requeue"}, follow=True
    )
    assert _messages(again) == [f"Task {poisoned.id} has no dead letter to requeue."]


def test_unknown_ids_and_actions_answer_with_a_message(admin_client):
    gone = admin_client.post(action_url("0" * 32), {"action": "retry"}, follow=True)
    assert _messages(gone) == [f"No task with id {'0' * 32} (unknown or expired)."]
    assert gone.status_code == 404  # back on the page, which says so
    odd = admin_client.post(action_url("0" * 32), {"action": "explode"}, follow=True)
    assert _messages(odd) == ["Unknown task action."]
    assert admin_client.get(action_url("0" * 32)).status_code == 405


@pytest.mark.parametrize("action", ["retry", "cancel", "requeue"])
def test_each_action_needs_manage_queues_and_csrf(action, admin_user, broker):
    queued = tasks.add.enqueue(1, 2)
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    plain = Client()
    plain.force_login(staff)
    page = plain.get(page_url(queued.id))
    assert page.status_code == 200
    assert 'id="tq-actions"' not in page.content.decode()  # no buttons shown

    assert plain.post(action_url(queued.id), {"action": action}).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(action_url(queued.id), {"action": action}).status_code == 403
    assert (status_of(queued), broker.stats("default").pending) == (
        TaskResultStatus.READY, 1,
    )  # fmt: skip

    staff.user_permissions.add(Permission.objects.get(codename="manage_queues"))
    manager = Client()
    manager.force_login(User.objects.get(pk=staff.pk))
    assert manager.post(action_url(queued.id), {"action": action}).status_code == 302


def test_retry_refuses_a_task_that_has_not_finished(admin_client, broker):
    queued = tasks.add.enqueue(1, 2)

    answer = admin_client.post(action_url(queued.id), {"action": "retry"}, follow=True)

    assert _messages(answer) == [
        f"Task {queued.id} cannot be retried: it has not finished."
    ]
    assert broker.stats("default").pending == 1
