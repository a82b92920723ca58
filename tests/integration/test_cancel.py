"""Cancel against a real Redis: the script, the API, the command, the dashboard form.

Running tasks and claimed batches are in tests/process/test_cancel.py; here
nothing runs a worker, so every cancel finds its task still in its queue
(or finished, or unknown).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client

import taskqueue
from taskqueue.compat import TaskResultDoesNotExist, TaskResultStatus
from taskqueue.exceptions import BrokerUnavailable
from tests import tasks
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)  # enqueue() waits for a commit
CANCELLED = "taskqueue.exceptions.TaskCancelled"


@pytest.fixture
def manager(db):
    user = User.objects.create_user("manager", password="pw-manager")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["manage_queues", "view_tasks"])
    )
    return user


@pytest.fixture
def manager_client(manager):
    from taskqueue.tokens import APIToken

    return Client(headers={"Authorization": f"Token {APIToken.issue(manager, 't')[1]}"})


def assert_cancelled(task, task_id):
    result = task.get_result(task_id)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path == CANCELLED


def test_a_pending_task_is_taken_out_of_its_queue_and_failed(broker):
    kept, doomed = tasks.add.enqueue(1, 1), tasks.add.enqueue(2, 2)

    assert taskqueue.cancel(doomed.id) is True

    assert_cancelled(tasks.add, doomed.id)
    assert broker.stats("default").pending == 1
    assert tasks.add.get_result(kept.id).status == TaskResultStatus.READY
    assert broker.cancels(["default"]) == {"default": {}}  # nothing left to watch


def test_scheduled_and_priority_tasks_are_taken_out_too(broker):
    later = tasks.add.using(run_after=timedelta(hours=1)).enqueue(1, 2)
    urgent = tasks.high_add.enqueue(3, 4)

    assert taskqueue.cancel(later.id)
    assert taskqueue.cancel(urgent.id)

    assert broker.stats("default").scheduled == 0
    assert broker.stats("high").pending == 0
    assert_cancelled(tasks.add, later.id)
    assert_cancelled(tasks.high_add, urgent.id)


def test_cancelling_twice_or_a_finished_task_is_false(broker):
    doomed = tasks.add.enqueue(1, 1)
    assert taskqueue.cancel(doomed.id) is True

    assert taskqueue.cancel(doomed.id) is False


def test_the_cancel_is_kept_in_the_record_and_expires_with_it(broker, backend):
    doomed = tasks.add.enqueue(1, 1)
    taskqueue.cancel(doomed.id, terminate=True)

    key = broker.keys("default").result(doomed.id)
    assert broker.client.hget(key, "cancel") == b"terminate"
    assert 0 < broker.client.ttl(key) <= backend.config.result_ttl


def test_garbage_and_unknown_ids_are_refused(broker):
    with pytest.raises(ValueError, match="not a task id"):
        taskqueue.cancel("../../etc/passwd")
    with pytest.raises(TaskResultDoesNotExist):
        taskqueue.cancel("no-such-task")


@pytest.mark.usefixtures("redis_down")
def test_cancel_with_redis_down_raises_broker_unavailable():
    with pytest.raises(BrokerUnavailable):
        taskqueue.cancel("some-task")


# The API.


def test_the_api_cancels_then_answers_409_for_a_finished_task(broker, manager_client):
    doomed = tasks.add.enqueue(1, 1)

    response = manager_client.post(f"/api/tasks/{doomed.id}/cancel/")
    again = manager_client.post(f"/api/tasks/{doomed.id}/cancel/")

    assert response.status_code == 200, response.json()
    assert response.json() == {"task_id": doomed.id, "cancelled": True}
    assert again.status_code == 409
    assert "already finished" in again.json()["error"]
    detail = manager_client.get(f"/api/tasks/{doomed.id}/").json()
    assert detail["status"] == "FAILED"
    assert detail["cancel"] == "stop"
    assert detail["errors"][-1]["exception"]["class"] == CANCELLED


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/tasks/no-such-task/cancel/", 404),
        ("/api/tasks/bad%20id/cancel/", 400),
        ("/api/tasks/no-such-task/cancel/?terminate=yes", 400),
    ],
)
@pytest.mark.usefixtures("broker")
def test_the_api_refuses_unknown_and_garbage_ids(manager_client, path, status):
    response = manager_client.post(path)
    assert response.status_code == status
    assert response.json()["status"] == status


def test_the_api_needs_manage_queues(broker, token_client):
    doomed = tasks.add.enqueue(1, 1)

    response = token_client.post(f"/api/tasks/{doomed.id}/cancel/")

    assert response.status_code == 403
    assert "manage_queues" in response.json()["error"]
    assert tasks.add.get_result(doomed.id).status == TaskResultStatus.READY


@pytest.mark.usefixtures("redis_down")
def test_the_api_answers_503_when_redis_is_down(manager_client):
    assert manager_client.post("/api/tasks/some-task/cancel/").status_code == 503


def test_get_is_405(broker, manager_client):
    assert manager_client.get("/api/tasks/x/cancel/").status_code == 405


# The command.


def test_tasks_cancel_command(broker, capsys):
    doomed = [tasks.add.enqueue(i, i) for i in range(3)]

    call_command("tasks", "cancel", *(r.id for r in doomed))

    assert capsys.readouterr().out.count("Cancelled") == 3
    for result in doomed:
        assert_cancelled(tasks.add, result.id)


def test_tasks_cancel_names_unknown_and_finished_ids(broker, capsys):
    doomed = tasks.add.enqueue(1, 1)
    taskqueue.cancel(doomed.id)
    fresh = tasks.add.enqueue(2, 2)

    with pytest.raises(CommandError, match=r"unknown task ids: nope.*already finished"):
        call_command("tasks", "cancel", fresh.id, "nope", doomed.id)

    assert_cancelled(tasks.add, fresh.id)  # the good one was still cancelled


@pytest.mark.parametrize(
    ("args", "text"),
    [((), "give an action"), (("cancel",), "give an action"),
     (("cancel", "bad id!"), "Not task ids")],
)  # fmt: skip
@pytest.mark.usefixtures("broker")
def test_tasks_command_bad_input(args, text):
    with pytest.raises(CommandError, match=text):
        call_command("tasks", *args)


@pytest.mark.usefixtures("redis_down")
def test_tasks_cancel_with_redis_down():
    with pytest.raises(CommandError, match="Redis is unavailable"):
        call_command("tasks", "cancel", "some-task")


# The dashboard form.


def test_dashboard_cancel_form(broker, admin_client):
    doomed = tasks.add.enqueue(1, 1)

    response = admin_client.post("/admin/queues/cancel/", {"task_id": doomed.id})

    assert response.status_code == 302
    assert_cancelled(tasks.add, doomed.id)


def test_dashboard_cancel_form_needs_manage_queues(broker, client):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    doomed = tasks.add.enqueue(1, 1)

    response = client.post("/admin/queues/cancel/", {"task_id": doomed.id})

    assert response.status_code == 403
    assert tasks.add.get_result(doomed.id).status == TaskResultStatus.READY
