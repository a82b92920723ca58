"""The admin queue dashboard through Django's test client."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from taskqueue.web.dashboard import chart_bars, throughput
from tests import tasks
from tests.integration.api_fixtures import redis_down  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/queues/"


@pytest.fixture
def parked(broker, run_command):
    broker.push_raw("default", b"garbage that is not json")
    assert run_command("runworker", "--burst", "--pool", "solo").returncode == 0
    return broker.dead_letter_ids("default")


@pytest.fixture
def settled(broker, run_command):
    """One task that succeeded and one that failed, run by a real worker."""
    ok = tasks.add.enqueue(2, 3)
    bad = tasks.permanent_failure.enqueue()
    high = tasks.high_add.enqueue(1, 1)
    result = run_command("runworker", "--burst")
    assert result.returncode == 0, result.stderr
    return ok.id, bad.id, high.id


def test_admin_index_links_to_the_dashboard(admin_client):
    assert b'href="/admin/queues/"' in admin_client.get("/admin/").content


def test_dashboard_shows_counts_throughput_and_dead_letters(
    admin_client, parked, broker
):
    broker.push_raw("default", b'{"recipe_id": 1}')

    page = admin_client.get(URL).content.decode()

    pending = '<a href="/admin/queues/messages/default/pending/" title="Pending messages of default">'
    assert f'<td class="num pending">{pending}1</a></td>' in page
    dead = '<a href="/admin/queues/messages/default/dead/" title="Dead letters of default">'
    assert f'<td class="num dead">{dead}1</a></td>' in page
    assert "garbage that is not json" in page
    assert parked[0] in page
    assert "<svg" in page
    assert "No live workers" in page


def test_data_endpoint_returns_panels_and_numbers(admin_client, parked, broker):
    # Half an hour ago: the worker that parked the message counts this minute.
    minute = int(time.time() // 60) - 30
    broker.count_minute(minute, {"succeeded": 3, "poison": 1})

    body = admin_client.get(URL + "data/").json()
    assert body["queues"][0]["dead"] == 1
    assert len(body["throughput"]) == 60
    points = {
        datetime.fromisoformat(p.pop("minute")).timestamp() // 60: p
        for p in body["throughput"]
    }
    assert points[minute] == {"succeeded": 3, "failed": 1, "retried": 0}
    assert parked[0] in body["html"]


def test_requeue_and_delete_from_the_dashboard(admin_client, parked, broker):
    response = admin_client.post(
        URL + "dead-letters/",
        {"action": "requeue", "queue": "default", "ids": parked},
        follow=True,
    )
    assert b"Requeued 1 dead letter(s) of queue default." in response.content
    assert broker.stats("default").pending == 1
    assert broker.stats("default").dead == 0


def test_delete_all_of_a_queue(admin_client, parked, broker):
    form = {"action": "delete", "queue": "default", "all": "1"}
    assert admin_client.post(URL + "dead-letters/", form).status_code == 200
    assert broker.stats("default").dead == 1  # the confirmation page only
    admin_client.post(URL + "dead-letters/", {**form, "post": "yes"})
    assert broker.stats("default").dead == 0
    assert broker.stats("default").pending == 0


def test_dead_letter_actions_need_the_permission_and_csrf(parked, broker, admin_user):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(URL).status_code == 200
    form = {"action": "delete", "queue": "default", "all": "1"}
    assert client.post(URL + "dead-letters/", form).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(URL + "dead-letters/", form).status_code == 403
    assert broker.stats("default").dead == 1


def test_dashboard_needs_a_staff_login(client, broker):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.usefixtures("redis_down")
def test_dashboard_with_redis_down_shows_an_error(admin_client):
    page = admin_client.get(URL).content.decode()
    assert "Redis is unavailable (redis://127.0.0.1:1/0)" in page


def test_chart_scales_bars_to_the_busiest_minute(broker):
    points = throughput(broker)
    points[-1] |= {"succeeded": 8, "failed": 2}
    points[-2] |= {"succeeded": 5}
    chart = chart_bars(points)
    assert chart["peak"] == 10
    assert chart["bars"][-1]["ok_h"] == pytest.approx(96.0)
    assert chart["bars"][-1]["bad_y"] == 0
    assert chart["bars"][-2]["ok_h"] == pytest.approx(60.0)


def _rows(body):
    return {row["id"]: row for row in body["recent_results"]}


def test_recent_results_show_status_task_duration_and_error(admin_client, settled):
    ok, bad, high = settled
    page = admin_client.get(URL).content.decode()
    assert f'data-task-id="{ok}" data-status="SUCCESSFUL"' in page
    assert f'data-task-id="{bad}" data-status="FAILED"' in page
    assert f'href="/admin/queues/tasks/{bad}/"' in page  # its task page
    assert "taskqueue.exceptions.PermanentError</strong>: cannot ever work" in page

    rows = _rows(admin_client.get(URL + "data/").json())
    assert rows[ok]["task"] == "tests.tasks.add"
    assert rows[ok]["queue"] == "default"
    assert rows[ok]["error_class"] == ""
    assert 0 <= rows[ok]["duration"] < 10
    assert rows[bad]["status"] == "FAILED"
    assert rows[bad]["error"] == "cannot ever work"
    assert rows[high]["queue"] == "high"


def test_recent_results_filter_by_status_and_queue(admin_client, settled):
    ok, bad, high = settled
    failed = admin_client.get(URL + "data/?status=FAILED").json()
    assert set(_rows(failed)) == {bad}
    assert failed["filters"] == {"status": "FAILED", "queue": None}
    assert f'data-task-id="{ok}"' not in failed["recent_html"]

    assert set(_rows(admin_client.get(URL + "data/?queue=high").json())) == {high}
    both = admin_client.get(URL + "data/?status=SUCCESSFUL&queue=default").json()
    assert set(_rows(both)) == {ok}
    unknown = admin_client.get(URL + "data/?status=nope&queue=nope").json()
    assert set(_rows(unknown)) == {ok, bad, high}

    page = admin_client.get(URL + "?status=FAILED").content.decode()
    assert '<option value="FAILED" selected>' in page
    assert f'data-task-id="{ok}"' not in page
    empty = admin_client.get(URL + "?status=RUNNING").content.decode()
    assert "No recent results matching the filters." in empty
