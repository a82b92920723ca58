"""The admin's pending, scheduled and dead-letter pages of a queue (#19)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from taskqueue.compat import TaskResultStatus
from taskqueue.web import messages as pages
from taskqueue.web.message_rows import task_link
from tests import tasks
from tests.integration.api_fixtures import redis_down  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)  # enqueue() waits for a commit
CANCELLED = "taskqueue.exceptions.TaskCancelled"
CANCEL_URL = "/admin/queues/cancel-many/"


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)


@pytest.fixture
def staff(db):
    return User.objects.create_user("ops", password="pw", is_staff=True)


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def manager_client(staff):
    staff.user_permissions.add(Permission.objects.get(codename="manage_queues"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    return client


def ids_on(html: str) -> list[str]:
    return re.findall(r'<tr data-task-id="([^"]*)"', html)


def every_page(client, url: str) -> list[list[str]]:
    """The row ids of each page, following Next links to the end."""
    seen, here = [], url
    while here:
        html = client.get(here).content.decode()
        seen.append(ids_on(html))
        found = re.search(r'<a href="([^"]+)" rel="next">', html)
        here = found.group(1) if found else None
    return seen


def test_pending_is_in_claim_order_and_pages_reach_the_end(
    admin_client, small_pages, broker
):
    plain = [tasks.add.enqueue(i, i).id for i in range(3)]
    low = tasks.add.using(priority=-3).enqueue(0, 0).id
    urgent = tasks.add.using(priority=5).enqueue(0, 0).id

    seen = every_page(admin_client, "/admin/queues/messages/default/pending/")

    assert seen == [[urgent, plain[0]], [plain[1], plain[2]], [low]]
    html = admin_client.get(
        "/admin/queues/messages/default/pending/?page=3"
    ).content.decode()
    assert "5\u20135 of 5" in html
    assert "Page 3 of 3" in html
    assert "tests.tasks.add" in html
    assert "0, 0" in html
    # The admin's task page when the tree has one, else the JSON API's detail.
    assert f'href="{task_link(low)}"' in html
    assert task_link(low) in {f"/admin/queues/tasks/{low}/", f"/api/tasks/{low}/"}


def test_scheduled_is_next_due_first_with_due_time_and_attempt(admin_client, broker):
    later = tasks.add.using(run_after=timedelta(hours=2)).enqueue(1, 1).id
    sooner = tasks.add.using(run_after=timedelta(hours=1)).enqueue(2, 2).id

    html = admin_client.get(
        "/admin/queues/messages/default/scheduled/"
    ).content.decode()

    assert ids_on(html) == [sooner, later]
    assert re.search(r'<td class="due">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>', html)
    assert '<td class="num attempt">1</td>' in html


def test_hostile_messages_all_render_escaped_and_short(admin_client, broker):
    for raw in (b"not json <b>bold</b>", b"{'recipe_id': 5}", b"\xff\xfe<script>",
                b'{"v":1,"id":"x' + b"A" * (2 << 20) + b'"}'):  # fmt: skip
        broker.push_raw("default", raw)

    page = admin_client.get("/admin/queues/messages/default/pending/")

    html = page.content.decode()
    assert page.status_code == 200
    assert len(ids_on(html)) == 4
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold" not in html
    assert "legacy message" in html
    assert "recipe_id=5" in html
    assert r"\xff\xfe&lt;script&gt;" in html
    assert "too large to decode here" in html
    assert len(html) < 60_000  # the 2 MiB message is cut


@pytest.mark.parametrize(
    ("url", "status", "text"),
    [
        (
            "/admin/queues/messages/nope/pending/",
            404,
            "No queue named &#x27;nope&#x27;.",
        ),
        ("/admin/queues/messages/default/dead/?page=0", 400, "Page must be a number"),
        (
            "/admin/queues/messages/default/scheduled/?page=x%3Cy",
            400,
            "not &#x27;x&lt;y&#x27;",
        ),
        (
            "/admin/queues/messages/default/pending/?page=99999999999",
            400,
            "Page must be",
        ),
    ],
)
def test_bad_queue_or_page_gets_a_clear_message(admin_client, url, status, text):
    page = admin_client.get(url)
    assert page.status_code == status
    assert text in page.content.decode()


@pytest.mark.usefixtures("redis_down")
def test_redis_down_is_said_on_the_page(admin_client):
    page = admin_client.get("/admin/queues/messages/default/pending/")
    assert page.status_code == 503
    assert "Redis is unavailable" in page.content.decode()


def test_pages_are_staff_only(client, db):
    assert (
        client.get("/admin/queues/messages/default/pending/").status_code == 302
    )  # login
    user = User.objects.create_user("plain", password="pw")
    client.force_login(user)
    assert client.get("/admin/queues/messages/default/dead/").status_code == 302


def test_cancel_needs_manage_queues_and_csrf(staff_client, broker):
    task = tasks.add.enqueue(1, 2)
    html = staff_client.get("/admin/queues/messages/default/pending/").content.decode()
    assert ids_on(html) == [task.id]
    assert "Cancel" not in html

    assert staff_client.post(CANCEL_URL, {"ids": task.id}).status_code == 403
    staff_client.handler.enforce_csrf_checks = True
    staff = User.objects.get(username="ops")
    staff.user_permissions.add(Permission.objects.get(codename="manage_queues"))
    assert staff_client.post(CANCEL_URL, {"ids": task.id}).status_code == 403  # CSRF
    assert tasks.add.get_result(task.id).status == TaskResultStatus.READY


def _post(client, page_url: str, data: dict) -> object:
    client.get(page_url)
    return client.post(
        CANCEL_URL, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
        follow=True,
    )  # fmt: skip


def test_one_cancel_acts_at_once_and_returns_to_the_page(manager_client, broker):
    kept, doomed = tasks.add.enqueue(1, 1), tasks.add.enqueue(2, 2)
    back = "/admin/queues/messages/default/pending/?page=1"

    done = _post(manager_client, back, {"ids": doomed.id, "back": back})

    assert done.redirect_chain == [(back, 302)]
    assert f"Cancelled 1 task(s): {doomed.id}." in done.content.decode()
    assert ids_on(done.content.decode()) == [kept.id]
    result = tasks.add.get_result(doomed.id)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path == CANCELLED


def test_cancel_selected_asks_first_saying_how_many(manager_client, broker):
    picked = [tasks.add.using(run_after=timedelta(hours=1)).enqueue(i, i).id
              for i in range(2)]  # fmt: skip
    back = "/admin/queues/messages/default/scheduled/?page=1"

    asked = _post(manager_client, back, {"ids": picked, "bulk": "1", "back": back})

    html = asked.content.decode()
    assert "This touches <strong>2</strong> items." in html
    assert broker.stats("default").scheduled == 2
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html)
    form: dict[str, list[str]] = {}
    for name, value in fields:
        form.setdefault(name, []).append(value)
    done = manager_client.post(CANCEL_URL, form, follow=True)
    assert "Cancelled 2 task(s)" in done.content.decode()
    assert broker.stats("default").scheduled == 0


@pytest.fixture
def parked(broker, run_command):
    """Three dead letters in the default queue, parked by a real worker."""
    for raw in (b"garbage <0>", b"\xffgarbage 1", b"garbage 2"):
        broker.push_raw("default", raw)
    assert run_command("runworker", "--burst", "--pool", "solo").returncode == 0
    return broker.dead_letter_ids("default")


def test_dead_letters_paged_newest_first_with_ids_and_raw_bytes(
    admin_client, small_pages, parked, broker
):
    seen, here = [], "/admin/queues/messages/default/dead/"
    html = admin_client.get(here).content.decode()
    seen += re.findall(r'<tr data-dead-id="([^"]+)"', html)
    assert "&lt;0&gt;" in html or r"\xffgarbage 1" in html
    html = admin_client.get(here + "?page=2").content.decode()
    seen += re.findall(r'<tr data-dead-id="([^"]+)"', html)
    assert 'rel="next"' not in html

    assert seen == list(reversed(parked))  # dead_letter_ids is oldest first
    assert "garbage &lt;0&gt;" in html  # the oldest, last
    back = "/admin/queues/messages/default/dead/?page=2"
    done = admin_client.post(
        "/admin/queues/dead-letters/",
        {"action": "requeue", "queue": "default", "ids": parked[0], "back": back},
        follow=True,
    )
    assert done.redirect_chain == [(back, 302)]
    assert broker.dead_letter_ids("default") == parked[1:]


def test_without_view_tasks_arguments_and_bytes_are_hidden(staff_client, broker):
    task = tasks.add.enqueue(12345, 67890)
    broker.push_raw("default", b"secret-bytes")

    html = staff_client.get("/admin/queues/messages/default/pending/").content.decode()

    assert ids_on(html)[0] == task.id
    assert "tests.tasks.add" in html  # task paths and ids stay
    assert "12345" not in html
    assert "secret-bytes" not in html
    assert "needs the <code>taskqueue.view_tasks</code> permission" in html
