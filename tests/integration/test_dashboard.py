"""The admin queue dashboard through Django's test client."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from taskqueue.dashboard import chart_bars, throughput
from tests.integration.api_fixtures import redis_down  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/admin/queues/"


@pytest.fixture
def parked(broker, run_command):
    broker.push_raw("default", b"garbage that is not json")
    assert run_command("runworker", "--burst", "--pool", "solo").returncode == 0
    return broker.dead_letter_ids("default")


def test_admin_index_links_to_the_dashboard(admin_client):
    assert b'href="/admin/queues/"' in admin_client.get("/admin/").content


def test_dashboard_shows_counts_throughput_and_dead_letters(
    admin_client, parked, broker
):
    broker.push_raw("default", b'{"recipe_id": 1}')

    page = admin_client.get(URL).content.decode()

    assert '<td class="num pending">1</td>' in page
    assert '<td class="num dead">1</td>' in page
    assert "garbage that is not json" in page
    assert parked[0] in page
    assert "<svg" in page
    assert "No live workers" in page


def test_data_endpoint_returns_panels_and_numbers(admin_client, parked, broker):
    broker.count_minute(int(time.time() // 60), {"succeeded": 3, "poison": 1})

    body = admin_client.get(URL + "data/").json()
    assert body["queues"][0]["dead"] == 1
    assert len(body["throughput"]) == 60
    assert body["throughput"][-1] | {"minute": None} == {
        "minute": None,
        "succeeded": 3,
        "failed": 1,
        "retried": 0,
    }
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
    admin_client.post(
        URL + "dead-letters/", {"action": "delete", "queue": "default", "all": "1"}
    )
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
