"""Who may do what: every URL and method for each kind of user (docs/permissions.md).

Users: anonymous, a plain user (no staff), staff with no permission, staff
with ``view_tasks``, staff with ``manage_queues``, and a superuser. The
API answers 401/403 as JSON; the admin sends anonymous and non-staff users
to its login page and answers 403 to staff without the permission.
"""

from __future__ import annotations

import time

import orjson
import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from taskqueue import enqueuer
from taskqueue.decoding import decode
from tests import tasks
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = ("anonymous", "plain", "staff", "viewer", "manager", "superuser")
LOGIN = "login"  # a redirect to the admin's login page
BACK = "back"  # the action's redirect back to the dashboard, once allowed


def _user(name: str, *, staff: bool = False, perms: tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(name, password="pw", is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    return user


@pytest.fixture
def users(db) -> dict[str, User | None]:
    return {
        "anonymous": None,
        "plain": _user("plain"),
        "staff": _user("staff", staff=True),
        "viewer": _user("viewer", staff=True, perms=("view_tasks",)),
        "manager": _user("manager", staff=True, perms=("manage_queues",)),
        "superuser": User.objects.create_superuser("root", password="pw"),
    }


def client_for(users: dict[str, User | None], role: str) -> Client:
    client = Client()
    user = users[role]
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def task_id(broker) -> str:
    """A finished task with an error message and a return value: enqueued by no one."""
    result = tasks.add.enqueue(2, 3)
    return result.id


# The API: (method, path, expected status per role in ROLES order).
API = [
    ("get", "/api/tasks/{task}/", (401, 403, 403, 200, 403, 200)),
    ("post", "/api/tasks/{task}/cancel/", (401, 403, 403, 403, 200, 409)),
    ("get", "/api/queues/", (401, 200, 200, 200, 200, 200)),
    ("get", "/api/workflows/no-such-flow/", (401, 404, 404, 404, 404, 404)),
    ("post", "/api/recipes/1/process/", (401, 403, 403, 403, 403, 404)),
    ("get", "/api/schema/", (200, 200, 200, 200, 200, 200)),
]
# The admin's queue pages and actions (POST with no form: the action's own
# "unknown action" answer, once the permission is granted).
ADMIN = [
    ("get", "/admin/queues/", (LOGIN, LOGIN, 200, 200, 200, 200)),
    ("get", "/admin/queues/data/", (LOGIN, LOGIN, 200, 200, 200, 200)),
    ("post", "/admin/queues/dead-letters/", (LOGIN, LOGIN, 403, 403, BACK, BACK)),
    ("post", "/admin/queues/cancel/", (LOGIN, LOGIN, 403, 403, BACK, BACK)),
    ("post", "/admin/queues/pause/", (LOGIN, LOGIN, 403, 403, BACK, BACK)),
    ("post", "/admin/queues/schedules/", (LOGIN, LOGIN, 403, 403, BACK, BACK)),
    (
        "get",
        "/admin/queues/messages/default/pending/",
        (LOGIN, LOGIN, 200, 200, 200, 200),
    ),
    (
        "get",
        "/admin/queues/messages/default/scheduled/",
        (LOGIN, LOGIN, 200, 200, 200, 200),
    ),
    ("get", "/admin/queues/messages/default/dead/", (LOGIN, LOGIN, 200, 200, 200, 200)),
    ("post", "/admin/queues/cancel-many/", (LOGIN, LOGIN, 403, 403, BACK, BACK)),
    ("get", "/admin/queues/tasks/", (LOGIN, LOGIN, 200, 200, 200, 200)),
    ("get", "/admin/queues/tasks/{task}/", (LOGIN, LOGIN, 200, 200, 200, 200)),
    (
        "post",
        "/admin/queues/tasks/{task}/action/",
        (LOGIN, LOGIN, 403, 403, BACK, BACK),
    ),
]


@pytest.mark.parametrize(("method", "path", "expected"), API + ADMIN)
def test_each_url_and_method_answers_each_role_as_documented(
    users, task_id, method, path, expected
):
    answers = {}
    for role in ROLES:
        # The cancel row: the manager cancels the queued task, the superuser
        # then finds it finished (409); both are past the permission check.
        response = getattr(client_for(users, role), method)(path.format(task=task_id))
        answers[role] = response.status_code
        if response.status_code == 302:
            login = response["Location"].startswith("/admin/login/")
            answers[role] = LOGIN if login else BACK

    assert answers == dict(zip(ROLES, expected, strict=True)), path


def test_a_caller_without_view_tasks_reads_only_the_tasks_it_enqueued(users, broker):
    plain = users["plain"]
    with enqueuer.acting_for(plain):
        own = tasks.add.enqueue(1, 2)
    other = tasks.add.enqueue(3, 4)
    client = client_for(users, "plain")

    mine = client.get(f"/api/tasks/{own.id}/")
    theirs = client.get(f"/api/tasks/{other.id}/", {"wait": "5"})

    assert mine.status_code == 200
    assert mine.json()["args"] == [1, 2]
    assert mine.json()["enqueued_by"] == str(plain.pk)
    assert theirs.status_code == 403  # at once: no long poll on someone else's task
    assert "view_tasks" in theirs.json()["error"]
    assert "args" not in theirs.json()
    assert client.get("/api/tasks/no-such-task/").status_code == 404


def test_an_api_enqueue_records_its_caller_and_a_retry_keeps_it(users, broker, recipe):
    editor = _user("editor", perms=("change_recipe",))
    client = Client()
    client.force_login(editor)

    response = client.post(f"/api/recipes/{recipe.pk}/process/")

    assert response.status_code == 202, response.content
    task = response.json()["task_id"]
    assert client.get(f"/api/tasks/{task}/").json()["enqueued_by"] == str(editor.pk)
    raw = broker.client.lindex(broker.keys("default").pending, 0)
    assert orjson.loads(raw)["by"] == str(editor.pk)
    retry = decode(raw, max_bytes=1 << 20, queue="default").next_attempt().encode()
    assert orjson.loads(retry)["by"] == str(editor.pk)


def test_api_queues_shows_a_workers_current_task_id_only_to_view_tasks(users, broker):
    info = {
        "name": "w1", "host": "h", "pid": 1, "processed": 0, "queues": ["default"],
        "heartbeat_at": time.time(), "current": ["secret-task-id"],
        "running": [{"id": "secret-task-id", "task": "tests.tasks.add",
                     "queue": "default", "since": time.time()}],
    }  # fmt: skip
    broker.set_worker("w1", orjson.dumps(info))

    shown = {
        role: client_for(users, role).get("/api/queues/").content
        for role in ("plain", "staff", "viewer", "manager", "superuser")
    }

    for role in ("plain", "staff", "manager"):
        assert b"secret-task-id" not in shown[role], role
        assert b"tests.tasks.add" in shown[role], role  # the path, not the id
    for role in ("viewer", "superuser"):
        assert b"secret-task-id" in shown[role], role


def test_staff_without_view_tasks_see_no_error_message_nor_metadata(
    users, broker, run_command
):
    failed = tasks.fails_once_then_gives_up.enqueue("the secret reason")
    assert run_command("runworker", "--burst").returncode == 0
    assert tasks.fails_once_then_gives_up.get_result(failed.id).status.name == "FAILED"

    staff = client_for(users, "staff").get("/admin/queues/").content.decode()
    viewer = client_for(users, "viewer").get("/admin/queues/").content.decode()
    data = client_for(users, "staff").get("/admin/queues/data/").content.decode()

    assert "the secret reason" in viewer
    assert "the secret reason" not in staff
    assert "the secret reason" not in data
    assert failed.id in staff  # its id, status and path are still listed
    assert "view_tasks" in staff
