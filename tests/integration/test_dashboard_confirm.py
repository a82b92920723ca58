"""Confirmation pages before the dashboard's destructive dead-letter actions (#19)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.integration.api_fixtures import redis_down  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/queues/dead-letters/"


@pytest.fixture
def parked(broker, run_command):
    """Three dead letters in the default queue, parked by a real worker."""
    for i in range(3):
        broker.push_raw("default", f"garbage {i}".encode())
    assert run_command("runworker", "--burst", "--pool", "solo").returncode == 0
    ids = broker.dead_letter_ids("default")
    assert len(ids) == 3
    return ids


def _posted_back(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page)


@pytest.mark.parametrize(
    ("action", "verb", "pending"),
    [("delete", "Deleted", 0), ("requeue", "Requeued", 3)],
)
def test_all_of_a_queue_asks_first_then_acts_on_the_second_post(
    admin_client, parked, broker, action, verb, pending
):
    form = {"action": action, "queue": "default", "all": "1"}

    page = admin_client.post(URL, form)

    assert page.status_code == 200
    html = page.content.decode()
    assert "This touches <strong>3</strong> items." in html
    assert "all dead letters of queue default" in html
    assert broker.stats("default").dead == 3
    fields = [f for f in _posted_back(html) if f[0] != "csrfmiddlewaretoken"]
    assert fields == [
        ("action", action),
        ("queue", "default"),
        ("all", "1"),
        ("post", "yes"),
    ]

    done = admin_client.post(URL, dict(fields), follow=True)

    assert f"{verb} 3 dead letter(s) of queue default." in done.content.decode()
    assert broker.stats("default").dead == 0
    assert broker.stats("default").pending == pending


def test_deleting_picked_ids_counts_only_those_still_dead(admin_client, parked, broker):
    picked = [parked[0], parked[1], "1-0", parked[0]]
    page = admin_client.get(
        URL, {"action": "delete", "queue": "default", "ids": picked}
    )

    html = page.content.decode()
    assert "This touches <strong>2</strong> items." in html
    fields = _posted_back(html)
    assert [v for n, v in fields if n == "ids"] == parked[:2]
    assert broker.stats("default").dead == 3  # a GET never acts

    admin_client.post(URL, {"action": "delete", "queue": "default",
                            "ids": parked[:2], "post": "yes"})  # fmt: skip
    assert broker.dead_letter_ids("default") == [parked[2]]


def test_requeueing_one_picked_id_needs_no_confirmation(admin_client, parked, broker):
    admin_client.post(URL, {"action": "requeue", "queue": "default", "ids": parked[0]})
    assert broker.stats("default").dead == 2


def test_nothing_to_touch_offers_no_button(admin_client, broker):
    page = admin_client.get(URL, {"action": "delete", "queue": "default", "all": "1"})
    html = page.content.decode()
    assert "This touches <strong>0</strong> items." in html
    assert 'name="post"' not in html


def test_confirmation_needs_the_permission_and_the_csrf_token(
    parked, broker, admin_user
):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    form = {"action": "delete", "queue": "default", "all": "1"}
    assert client.get(URL, form).status_code == 403
    assert client.post(URL, {**form, "post": "yes"}).status_code == 403

    staff.user_permissions.add(Permission.objects.get(codename="manage_queues"))
    manager = Client()
    manager.force_login(User.objects.get(pk=staff.pk))
    assert manager.get(URL, form).status_code == 200

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(URL, {**form, "post": "yes"}).status_code == 403
    assert broker.stats("default").dead == 3


def test_garbage_and_redis_down_answer_clearly(admin_client, redis_down):  # noqa: F811
    bad = admin_client.get(URL, {"action": "explode", "queue": "nope"}, follow=True)
    assert "Unknown dead-letter action or queue." in bad.content.decode()
    page = admin_client.post(URL, {"action": "delete", "queue": "default", "all": "1"},
                             follow=True)  # fmt: skip
    assert "Redis is unavailable; nothing was changed." in page.content.decode()
