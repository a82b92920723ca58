"""The dashboard's Cancel, Pause and Resume buttons in headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.browser.test_dashboard import log_in
from tests.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running(broker, start_worker, tmp_path):
    """A worker running a task that stops when cancelled, set up before Chromium:
    Playwright's sync API runs an event loop, inside which the ORM (which
    enqueue() asks whether a transaction is open) would open a connection of
    its own that nothing closes."""
    marker = tmp_path / "seen"
    task = tasks.stops_when_cancelled.enqueue(str(marker))
    worker = start_worker(env={"TASKQUEUE_WORKER_TIMEOUT": "3"})  # a beat a second
    wait_until(lambda: task.id.encode() in b"".join(broker.workers().values()))
    return task, marker, worker


@pytest.mark.usefixtures("admin_user")
def test_cancel_a_running_task_then_pause_and_resume_a_queue(
    running, chromium, live_server, broker
):
    # Given a worker running a task that stops when cancelled
    running, marker, worker = running
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    log_in(page, live_server.url)

    # When its Cancel button is pressed, it is asked to stop and ends FAILED
    page.locator(f'#tq-workers button[data-cancel="{running.id}"]').click()
    expect(page.locator(".messagelist")).to_contain_text(f"Cancelled task {running.id}")
    wait_until(
        lambda: (
            tasks.stops_when_cancelled.get_result(running.id).status
            == TaskResultStatus.FAILED
        )
    )
    assert marker.read_text() == "saw the cancel"

    # Pause, then Resume, the default queue
    row = page.locator('tr[data-queue="default"]')
    row.locator('button[value="pause"]').click()
    expect(page.locator(".messagelist")).to_contain_text("Paused queue default")
    expect(row.locator(".state")).to_contain_text("paused")
    assert broker.paused("default")
    row.locator('button[value="resume"]').click()
    expect(page.locator(".messagelist")).to_contain_text("Resumed queue default")
    expect(row.locator(".state")).to_contain_text("running")
    assert not broker.paused("default")
    page.close()
    worker.stop()
