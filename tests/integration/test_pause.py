"""Paused queues against a real Redis: the flag, the claim, the surfaces.

Workers pausing under load are in tests/process/test_pause.py.
"""

from __future__ import annotations

import orjson
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from taskqueue.broker import ClaimPolicy
from tests import tasks
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)  # enqueue() waits for a commit
POLICY = ClaimPolicy(max_batch=10, worker_timeout=30, result_ttl=60)


def test_a_paused_queue_accepts_tasks_but_the_claim_gives_none(broker):
    call_command("queues", "pause", "default")
    tasks.add.enqueue(1, 1)

    paused = broker.claim("default", "c1", POLICY)
    call_command("queues", "resume", "default")
    resumed = broker.claim("default", "c1", POLICY)

    assert (paused.messages, paused.control) == ([], "P")
    assert broker.stats("default").pending == 0  # claimed after the resume
    assert (len(resumed.messages), resumed.control) == (1, "")


def test_a_message_moved_in_while_paused_goes_back(broker):
    tasks.add.enqueue(1, 1)
    moved = broker.block("default", "c1", 0.1)
    broker.set_paused("default", True)

    claimed = broker.claim("default", "c1", POLICY, moved=moved)

    assert claimed.messages == []
    assert broker.stats("default").pending == 1
    assert broker.in_flight("default", "c1") == []


def test_pause_shows_in_queuestats_and_the_api(broker, token_client, capsys):
    call_command("queues", "pause", "high")
    capsys.readouterr()

    call_command("queuestats", "--json")
    shown = orjson.loads(capsys.readouterr().out)
    api = token_client.get("/api/queues/").json()

    assert [q["paused"] for q in shown["queues"]] == [False, True]
    assert [q["paused"] for q in api["queues"]] == [False, True]
    call_command("queuestats")
    assert "paused" in capsys.readouterr().out.splitlines()[2]


def test_pausing_twice_says_so(broker, capsys):
    call_command("queues", "pause", "default")
    call_command("queues", "pause", "default")

    assert "already paused" in capsys.readouterr().out
    assert broker.paused("default")


@pytest.mark.parametrize(
    ("args", "text"),
    [((), "give an action"), (("pause",), "give an action"),
     (("pause", "nope"), "Unknown queue 'nope'")],
)  # fmt: skip
@pytest.mark.usefixtures("broker")
def test_queues_command_bad_input(args, text):
    with pytest.raises(CommandError, match=text):
        call_command("queues", *args)


@pytest.mark.usefixtures("redis_down")
def test_queues_command_with_redis_down():
    with pytest.raises(CommandError, match="Redis is unavailable"):
        call_command("queues", "pause", "default")


def test_dashboard_pause_and_resume_buttons(broker, admin_client):
    page = admin_client.get("/admin/queues/").content.decode()
    assert 'name="action" value="pause"' in page

    admin_client.post("/admin/queues/pause/", {"queue": "high", "action": "pause"})
    assert broker.paused("high")
    page = admin_client.get("/admin/queues/").content.decode()
    assert 'name="action" value="resume"' in page

    admin_client.post("/admin/queues/pause/", {"queue": "high", "action": "resume"})
    assert not broker.paused("high")


def test_dashboard_pause_refuses_unknown_queues_and_non_managers(
    broker, admin_client, client
):
    admin_client.post("/admin/queues/pause/", {"queue": "nope", "action": "pause"})
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)

    refused = client.post("/admin/queues/pause/", {"queue": "high", "action": "pause"})

    assert refused.status_code == 403
    assert not broker.paused("high")
    assert not broker.paused("nope")
