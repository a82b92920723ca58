"""GET /api/workflows/<id>/ and the dashboard's link from a task to its workflow."""

from __future__ import annotations

import pytest
from django.test import Client

from taskqueue import workflows
from tests import tasks
from tests.integration.api_fixtures import *  # noqa: F403
from tests.integration.test_workflows import drain

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_workflow_shows_its_steps_and_their_statuses(token_client, backend):
    flow = workflows.chain(
        workflows.step(tasks.wf_add, 1), workflows.step(tasks.wf_fail), tasks.noop
    ).enqueue()

    before = token_client.get(f"/api/workflows/{flow.id}/")
    drain(backend)
    after = token_client.get(f"/api/workflows/{flow.id}/")

    assert before.status_code == 200
    assert before.json()["status"] == "READY"
    body = after.json()
    assert body["kind"] == "chain"
    assert body["status"] == "FAILED"
    assert body["total"] == 3
    assert body["finished"] == 3
    assert [s["id"] for s in body["steps"]] == list(flow.step_ids)
    assert [s["status"] for s in body["steps"]] == ["SUCCESSFUL", "FAILED", "FAILED"]
    assert [s["task"] for s in body["steps"]] == [
        "tests.tasks.wf_add", "tests.tasks.wf_fail", "tests.tasks.noop",
    ]  # fmt: skip
    assert body["callback"] is None


def test_a_group_shows_its_members_and_callback(token_client, backend):
    flow = workflows.group(
        workflows.step(tasks.wf_add, 1),
        then=tasks.wf_collect,
        only_if_all_succeeded=True,
    ).enqueue()
    drain(backend)

    body = token_client.get(f"/api/workflows/{flow.id}/").json()

    assert body["kind"] == "group"
    assert body["only_if_all_succeeded"] is True
    assert body["steps"][0]["role"] == "member"
    assert body["callback"]["id"] == flow.callback_id
    assert body["callback"]["status"] == "SUCCESSFUL"


@pytest.mark.parametrize(
    "bad", ["0" * 32, "no-such-workflow", "x" * 300, "%00", "..%2F..%2Fetc"]
)
def test_unknown_and_garbage_ids_are_json_404(token_client, backend, bad):
    response = token_client.get(f"/api/workflows/{bad}/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] == 404


def test_it_needs_the_same_auth_as_a_task(backend):
    flow = workflows.chain(tasks.noop).enqueue()
    assert Client().get(f"/api/workflows/{flow.id}/").status_code == 401


def test_redis_down_is_a_json_503(token_client, redis_down):
    response = token_client.get(f"/api/workflows/{'a' * 32}/")
    assert response.status_code == 503
    assert response.json()["status"] == 503


def test_the_schema_describes_it(token_client):
    schema = token_client.get("/api/schema/").json()
    assert "/api/workflows/{workflow_id}/" in schema["paths"]


def test_the_dashboard_links_a_step_to_its_workflow(admin_client, backend):
    flow = workflows.chain(workflows.step(tasks.wf_add, 1), tasks.noop).enqueue()
    plain = tasks.add.enqueue(1, 2)
    drain(backend)

    page = admin_client.get("/admin/queues/").content.decode()

    link = f'href="/api/workflows/{flow.id}/"'
    assert page.count(link) == 2  # both steps, each in its row
    row = next(line for line in page.splitlines() if plain.id in line)
    assert "workflow-link" not in row
