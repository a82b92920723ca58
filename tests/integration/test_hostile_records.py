"""Readers of Redis data are total: a malformed record is shown as unreadable, never a 500.

Anyone with access to Redis can write anything into it (``HSET`` by hand, an
old version, a bug). Each test writes such a record into a real Redis, next
to real ones, and reads it through the API, the dashboard and the commands.
"""

from __future__ import annotations

import io

import orjson
import pytest
from django.core.management import call_command

from taskqueue.compat import TaskResultDoesNotExist
from taskqueue.keys import workers_key
from tests import tasks
from tests.integration.api_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)

GOOD_WORKER = {
    "name": "good", "host": "h", "pid": 7, "queues": ["default"],
    "started_at": 1_700_000_000.5, "heartbeat_at": 1_700_000_100.25,
    "current": [], "processed": 3, "consumers": ["good-1"],
}  # fmt: skip


@pytest.fixture
def hostile_workers(broker, key_prefix):
    """The workers hash with one good entry, one that is not JSON, one with a bad time."""
    key = workers_key(key_prefix)
    broker.client.hset(key, "good", orjson.dumps(GOOD_WORKER))
    broker.client.hset(key, "x", b"not json")
    broker.client.hset(key, "y", orjson.dumps({"name": "y", "heartbeat_at": "soon"}))
    broker.client.hset(key, "z", orjson.dumps({"current": 5, "queues": "default"}))


def stored(broker, task_id, **fields):
    """Write result-record fields for task_id in the default queue."""
    broker.client.hset(broker.keys("default").result(task_id), mapping=fields)
    broker.client.lpush(broker.keys("default").recent, task_id)


@pytest.fixture
def queued(broker):
    """A real enqueued task and its message as the backend wrote it."""
    result = tasks.add.enqueue(2, 3)
    raw = broker.client.hget(broker.keys("default").ready, result.id)
    return result.id, orjson.loads(raw)


def with_message(envelope, **changes):
    return orjson.dumps({**envelope, **changes})


def test_api_queues_shows_malformed_worker_entries_as_unreadable(
    hostile_workers, token_client
):
    response = token_client.get("/api/queues/")

    assert response.status_code == 200, response.content
    workers = {w["name"]: w for w in response.json()["workers"]}
    assert workers["x"] == {"name": "x", "unreadable": ["entry"]}
    assert workers["y"]["heartbeat_at"] is None
    assert workers["y"]["unreadable"] == ["heartbeat_at"]
    assert workers["z"]["current"] is None
    assert set(workers["z"]["unreadable"]) == {"current", "queues"}
    assert "unreadable" not in workers["good"]


def test_api_queues_gives_worker_times_in_iso_8601(hostile_workers, token_client):
    good = next(
        w for w in token_client.get("/api/queues/").json()["workers"]
        if w["name"] == "good"
    )  # fmt: skip
    assert good["started_at"] == "2023-11-14T22:13:20.500000+00:00"
    assert good["heartbeat_at"] == "2023-11-14T22:15:00.250000+00:00"


def test_dashboard_and_its_data_show_malformed_workers(hostile_workers, admin_client):
    page = admin_client.get("/admin/queues/")
    data = admin_client.get("/admin/queues/data/")

    assert page.status_code == 200
    assert b"unreadable: entry" in page.content
    assert data.status_code == 200
    assert "unreadable: heartbeat_at" in data.json()["html"]


def test_queuestats_shows_malformed_workers(hostile_workers, backend):
    out = io.StringIO()
    call_command("queuestats", stdout=out)
    assert "x (unreadable entry)" in out.getvalue()
    assert "unreadable: queues, current" in out.getvalue()
    call_command("queuestats", "--json", stdout=out)


def test_malformed_dead_letter_is_listed_as_unreadable(broker, admin_client):
    k = broker.keys("default")
    broker.client.hset(k.dead, "d1", b"{not json")
    broker.client.zadd(k.dead_index, {"d1": 1e300})

    out = io.StringIO()
    call_command("deadletters", "list", stdout=out)
    page = admin_client.get("/admin/queues/")

    assert "d1  default  (unreadable dead-letter entry)" in out.getvalue()
    assert page.status_code == 200
    assert b"(unreadable dead-letter entry)" in page.content


@pytest.mark.parametrize(
    ("fields", "unreadable", "shown"),
    [
        ({"msg": {"enqueued_at": 1e300}}, ["enqueued_at"], {"enqueued_at": None}),
        ({"msg": {"enqueued_at": "soon"}}, ["enqueued_at"], {"enqueued_at": None}),
        ({"msg": {"args": "two and three"}}, ["args"], {"args": []}),
        ({"msg": {"queue": "no-such-queue"}}, None, {"status": "SUCCESSFUL"}),
        ({"started_at": b"1e300"}, ["started_at"], {"started_at": None}),
        ({"finished_at": b"soon"}, ["finished_at"], {"finished_at": None}),
        ({"status": b"EXPLODED"}, ["status"], {"status": None}),
        ({"return": b"{nope"}, ["return_value"], {"return_value": None}),
        ({"worker:1": b"\xff\xfe"}, None, {"attempts": 1}),
    ],
)
def test_task_detail_shows_a_malformed_field_as_null(
    broker, backend, token_client, queued, fields, unreadable, shown
):
    task_id, envelope = queued
    record = {
        "msg": orjson.dumps(envelope), "status": b"SUCCESSFUL", "return": b"5",
        "started_at": b"1700000000", "finished_at": b"1700000001",
        "last_attempted_at": b"1700000000", "worker:1": b"w1",
    }  # fmt: skip
    changes = dict(fields)
    if "msg" in changes:
        changes["msg"] = with_message(envelope, **changes["msg"])
    stored(broker, task_id, **{**record, **changes})

    response = token_client.get(f"/api/tasks/{task_id}/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body.get("unreadable") == unreadable
    for name, value in shown.items():
        assert body[name] == value
    try:  # the Tasks API reads the same record: a result, or "does not exist"
        backend.get_result(task_id)
    except TaskResultDoesNotExist:
        assert body["status"] is None


def test_task_detail_with_a_message_that_is_not_json(broker, token_client, queued):
    task_id, _envelope = queued
    stored(broker, task_id, msg=b"\x00garbage", status=b"FAILED", **{"error:1": b"?"})

    response = token_client.get(f"/api/tasks/{task_id}/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["task"] is None
    assert body["status"] == "FAILED"
    assert body["errors"][0]["exception"]["class"] is None
    assert body["unreadable"] == ["msg", "errors"]


def test_get_result_of_a_task_queued_on_a_removed_queue_uses_its_own_queue(
    broker, backend, queued
):
    task_id, envelope = queued
    stored(broker, task_id, msg=with_message(envelope, queue="gone"))

    result = backend.get_result(task_id)

    assert result.task.queue_name == "default"
    assert result.args == [2, 3]


def test_dashboard_recent_results_show_a_malformed_record(broker, admin_client, queued):
    task_id, envelope = queued
    stored(
        broker, task_id, msg=with_message(envelope, task=5), status=b"?",
        finished_at=b"1e300", **{"error:1": b"[]"},
    )  # fmt: skip

    page = admin_client.get("/admin/queues/")

    assert page.status_code == 200
    assert task_id.encode() in page.content
    assert b"(unreadable)" in page.content
