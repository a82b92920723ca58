"""The admin's task page (issue 19) through Django's test client: what it shows."""

from __future__ import annotations

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.inprocess import InProcessWorker
from tests.integration.api_fixtures import redis_down  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def page_url(task_id: str) -> str:
    return f"/admin/queues/tasks/{task_id}/"


@pytest.fixture
def worker(broker):
    consumer = InProcessWorker(broker)
    yield consumer
    consumer.close()


def settle(worker, result, status=TaskResultStatus.FAILED):
    """Run the worker until the task has ``status`` (retries included)."""
    worker.run_until(lambda: result.task.get_result(result.id).status == status)


def test_a_task_retried_twice_shows_every_attempt_with_its_span_and_traceback(
    admin_client, worker
):
    failed = tasks.always_fails.using(priority=7).enqueue("boom")  # 3 attempts
    settle(worker, failed)

    page = admin_client.get(page_url(failed.id))

    assert page.status_code == 200
    html = page.content.decode()
    assert '<td class="tq-path"><code>tests.tasks.always_fails</code></td>' in html
    assert '<td class="tq-queue">default</td>' in html
    assert '<td class="tq-priority">7</td>' in html
    assert '<td class="tq-status status-failed">FAILED</td>' in html
    assert '<pre class="tq-args">[\n  &quot;boom&quot;\n]</pre>' in html
    for attempt in (1, 2, 3):
        assert f'<tr data-attempt="{attempt}">' in html
    assert '<tr data-attempt="4">' not in html
    assert html.count('<td class="tq-worker">inproc.test</td>') == 3
    assert (
        html.count('<strong class="tq-error-class">builtins.ValueError</strong>') == 3
    )
    assert (
        html.count('<pre class="tq-traceback">Traceback (most recent call last)') == 3
    )
    assert "raise ValueError(message)" in html
    # every attempt has its own start, finish and duration (widened worker:<n>)
    starts = page.context["attempts"]
    assert all(a["start"] and a["finish"] and a["duration"] for a in starts)
    assert starts[0]["finish"] <= starts[1]["start"] <= starts[1]["finish"]
    assert starts[1]["finish"] <= starts[2]["start"]
    steps = [s["label"] for s in page.context["timeline"] if s["at"]]
    assert steps == ["Enqueued", "Started", "Finished"]
    assert 'data-step="finished"' in html
    assert f'href="/api/tasks/{failed.id}/"' in html  # the raw JSON, still linked


def test_a_successful_task_shows_its_return_value_and_metadata(
    admin_client, worker, tmp_path
):
    marker = tmp_path / "go"
    marker.touch()  # the task reports its progress without waiting
    added = tasks.add.enqueue(2, 3)
    progressed = tasks.reports_progress.enqueue(str(marker), 2)
    settle(worker, progressed, TaskResultStatus.SUCCESSFUL)
    settle(worker, added, TaskResultStatus.SUCCESSFUL)

    html = admin_client.get(page_url(added.id)).content.decode()
    assert '<td class="tq-status status-successful">SUCCESSFUL</td>' in html
    assert '<pre class="tq-return">5</pre>' in html
    progress = admin_client.get(page_url(progressed.id)).content.decode()
    assert (
        '<pre class="tq-metadata">{\n  &quot;progress&quot;: 100\n}</pre>' in progress
    )


def test_a_queued_task_has_no_attempt_and_a_cancel_button(admin_client):
    queued = tasks.add.enqueue(1, 2)

    html = admin_client.get(page_url(queued.id)).content.decode()

    assert '<td class="tq-status status-ready">READY</td>' in html
    assert "No attempt has run yet." in html
    assert 'value="cancel"' in html
    assert 'value="retry"' not in html


def test_a_record_written_the_old_way_still_shows_its_attempts(admin_client, broker):
    """Before the task page, worker:<n> held the consumer alone."""
    key = broker.keys("default").result("oldstyle")
    msg = orjson.dumps({"v": 1, "id": "oldstyle", "task": "tests.tasks.add",
                        "queue": "default", "args": [1, 2], "kwargs": {}})  # fmt: skip
    broker.client.hset(key, mapping={
        "msg": msg, "status": "SUCCESSFUL", "worker:1": "w.1", "worker:2": "w.2",
        "started_at": "1700000000", "last_attempted_at": "1700000010",
        "finished_at": "1700000012.5", "return": "3",
    })  # fmt: skip

    page = admin_client.get(page_url("oldstyle"))

    rows = page.context["attempts"]
    assert [r["worker"] for r in rows] == ["w.1", "w.2"]
    assert rows[0]["start"].timestamp() == 1700000000
    assert rows[0]["finish"] is None
    assert rows[1]["start"].timestamp() == 1700000010
    assert rows[1]["duration"] == "2.50 s"


def test_unknown_expired_or_malformed_ids_get_a_404_page(admin_client):
    for task_id in ("0" * 32, "no such id", "x" * 300):
        page = admin_client.get(page_url(task_id))
        assert page.status_code == 404
        assert "it is unknown, or its result has expired" in page.content.decode()


def test_a_damaged_record_still_renders_and_names_what_is_unreadable(
    admin_client, broker
):
    key = broker.keys("default").result("damaged")
    broker.client.hset(key, mapping={
        "msg": b"\xff not json", "status": "WEIRD", "worker:1": b"\xfe",
        "error:1": b"{broken", "started_at": "soon", "return": b"{nope",
    })  # fmt: skip

    page = admin_client.get(page_url("damaged"))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="tq-unreadable"' in html
    for name in ("msg", "status", "started_at", "errors", "return_value"):
        assert name in page.context["unreadable"]
    assert "(unreadable)" in html


@pytest.mark.usefixtures("redis_down")
def test_redis_down_says_so(admin_client):
    page = admin_client.get(page_url("0" * 32))

    assert page.status_code == 503
    assert "Redis is unavailable" in page.content.decode()


def test_links_to_its_workflow_and_schedule(admin_client, broker):
    key = broker.keys("default").result("linked")
    msg = orjson.dumps({"v": 1, "id": "linked", "task": "tests.tasks.add",
                        "queue": "default", "args": [], "kwargs": {},
                        "workflow": "wf" + "a" * 30,
                        "schedule": {"name": "nightly", "tick": 1700000000}})  # fmt: skip
    broker.client.hset(key, mapping={"msg": msg, "status": "READY"})

    html = admin_client.get(page_url("linked")).content.decode()

    assert f'href="/api/workflows/wf{"a" * 30}/"' in html
    assert (
        '<td class="tq-schedule"><a href="/admin/queues/#tq-schedules">nightly</a>'
        in html
    )


def test_the_dashboard_links_task_ids_to_their_page(admin_client, worker):
    failed = tasks.permanent_failure.enqueue()
    settle(worker, failed)

    html = admin_client.get("/admin/queues/").content.decode()

    assert f'href="{page_url(failed.id)}"' in html


def test_staff_without_view_tasks_see_no_contents_of_the_task(admin_client, worker):
    """docs/permissions.md: path, status, times and ids only."""
    failed = tasks.always_fails.enqueue("secret argument")
    settle(worker, failed)
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)

    html = client.get(page_url(failed.id)).content.decode()

    assert '<td class="tq-status status-failed">FAILED</td>' in html
    assert "tests.tasks.always_fails" in html
    assert "builtins.ValueError" in html
    assert "secret argument" not in html
    assert "Traceback" not in html
    assert "they need the <code>taskqueue.view_tasks</code> permission" in html
    assert "secret argument" in admin_client.get(page_url(failed.id)).content.decode()
