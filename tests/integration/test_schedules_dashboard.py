"""The dashboard's Schedules section and its buttons, through Django's test client."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.integration.api_fixtures import redis_down  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/queues/"
TASK = "tests.tasks.scheduled_run"
SCHEDULES = {
    "tick": {"task": TASK, "every": 60},
    "nightly": {"task": TASK, "cron": "0 3 * * *"},
}


def with_schedules(settings, schedules):
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {
        **tasks["default"]["OPTIONS"],
        "SCHEDULES": schedules,
    }
    settings.TASKS = tasks


@pytest.fixture
def scheduled(settings, key_prefix, broker):
    with_schedules(settings, SCHEDULES)
    from taskqueue.backends import backend_for

    return backend_for().broker


def state(broker, name):
    (s,) = broker.schedule_states([(name, "default")])
    return s


def test_the_section_lists_schedules_with_buttons(admin_client, scheduled):
    page = admin_client.get(URL).content.decode()
    assert 'id="tq-schedules"' in page
    assert 'data-schedule="tick"' in page
    assert "every 60s" in page
    assert "cron 0 3 * * *" in page
    assert 'value="pause"' in page
    assert 'value="run"' in page


def test_no_schedules_no_section(admin_client, key_prefix):
    assert 'id="tq-schedules"' not in admin_client.get(URL).content.decode()


def test_pause_resume_and_run_from_the_dashboard(admin_client, scheduled):
    response = admin_client.post(
        URL + "schedules/", {"action": "pause", "name": "tick"}, follow=True
    )
    assert "Schedule tick paused." in response.content.decode()
    assert state(scheduled, "tick").paused
    page = admin_client.get(URL).content.decode()
    assert 'value="resume"' in page
    admin_client.post(URL + "schedules/", {"action": "resume", "name": "tick"})
    assert not state(scheduled, "tick").paused
    response = admin_client.post(
        URL + "schedules/", {"action": "run", "name": "nightly"}, follow=True
    )
    assert "Schedule nightly: one run enqueued" in response.content.decode()
    assert state(scheduled, "nightly").counts["fired"] == 1


@pytest.mark.parametrize(
    ("form", "says"),
    [({"action": "pause", "name": "nope"}, "No schedule named &#x27;nope&#x27;."),
     ({"action": "explode", "name": "tick"}, "Unknown schedule action."),
     ({}, "Unknown schedule action.")],
)  # fmt: skip
def test_bad_forms_are_told_not_raised(admin_client, scheduled, form, says):
    response = admin_client.post(URL + "schedules/", form, follow=True)
    assert response.status_code == 200
    assert says in response.content.decode()


def test_buttons_need_the_permission_and_csrf(scheduled, admin_user):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get(URL).content.decode()
    assert 'data-schedule="tick"' in page
    assert 'value="pause"' not in page
    form = {"action": "pause", "name": "tick"}
    assert client.post(URL + "schedules/", form).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(URL + "schedules/", form).status_code == 403
    assert client.get(URL + "schedules/").status_code == 405
    assert not state(scheduled, "tick").paused


@pytest.mark.usefixtures("redis_down")
def test_redis_down_is_said_on_the_page_and_by_the_buttons(settings, admin_client):
    with_schedules(settings, SCHEDULES)
    assert "schedules cannot be read" in admin_client.get(URL).content.decode()
    response = admin_client.post(
        URL + "schedules/", {"action": "pause", "name": "tick"}, follow=True
    )
    assert "Redis is unavailable; nothing was changed." in response.content.decode()
