"""The pending and dead-letter pages in Chromium with JavaScript off (#19)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from taskqueue.compat import TaskResultStatus
from taskqueue.web import messages as pages
from tests import tasks
from tests.browser.test_dashboard import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CANCELLED = "taskqueue.exceptions.TaskCancelled"


@pytest.fixture
def queued(broker):
    """Two pending tasks, enqueued before Chromium's event loop (see
    test_dashboard_controls.py: the ORM would open a connection inside it)."""
    return tasks.add.enqueue(1, 2), tasks.add.enqueue(3, 4)


@pytest.mark.usefixtures("admin_user")
def test_cancel_a_pending_task_from_the_pending_list(queued, chromium, live_server):
    doomed, other = queued
    page = chromium.new_context(java_script_enabled=False).new_page()
    log_in(page, live_server.url)

    page.locator('tr[data-queue="default"] td.pending a').click()
    rows = page.locator("#tq-messages tbody tr[data-task-id]")
    expect(rows).to_have_count(2)
    page.locator(f'button[data-cancel="{doomed.id}"]').click()

    expect(page.locator(".messagelist")).to_contain_text(
        f"Cancelled 1 task(s): {doomed.id}"
    )
    expect(rows).to_have_count(1)
    expect(page.locator(f'tr[data-task-id="{other.id}"]')).to_be_visible()
    result = tasks.add.get_result(doomed.id)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path == CANCELLED

    page.get_by_label(f"Select {other.id}").check()
    page.get_by_role("button", name="Cancel selected").click()
    expect(page.locator("#tq-confirm")).to_contain_text("This touches 1 item.")
    page.get_by_role("button", name="Yes, I\u2019m sure").click()
    expect(page.locator(".messagelist")).to_contain_text("Cancelled 1 task(s)")
    expect(page.locator("#tq-messages")).to_contain_text("No pending messages")


@pytest.fixture
def deferred(broker):
    """Two tasks due in one and in two hours (enqueued before Chromium too)."""
    later = tasks.add.using(run_after=timedelta(hours=2)).enqueue(5, 6)
    sooner = tasks.add.using(run_after=timedelta(hours=1)).enqueue(7, 8)
    return sooner, later


@pytest.mark.usefixtures("admin_user")
def test_the_scheduled_page_lists_next_due_first_and_cancels(
    deferred, chromium, live_server
):
    sooner, later = deferred
    page = chromium.new_context(java_script_enabled=False).new_page()
    log_in(page, live_server.url)

    page.locator('tr[data-queue="default"] td.scheduled a').click()
    rows = page.locator("#tq-messages tbody tr[data-task-id]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-task-id", sooner.id)
    expect(rows.nth(1)).to_have_attribute("data-task-id", later.id)
    page.locator(f'button[data-cancel="{sooner.id}"]').click()

    expect(page.locator(".messagelist")).to_contain_text(
        f"Cancelled 1 task(s): {sooner.id}"
    )
    expect(rows).to_have_count(1)
    result = tasks.add.get_result(sooner.id)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[-1].exception_class_path == CANCELLED


@pytest.mark.usefixtures("admin_user")
def test_dead_letters_page_to_the_oldest_and_delete_it(
    chromium, live_server, broker, run_command, monkeypatch
):
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    for i in range(3):
        broker.push_raw("default", f"not json <{i}>".encode())
    assert run_command("runworker", "--burst", "--pool", "solo").returncode == 0
    oldest, *newer = broker.dead_letter_ids("default")
    page = chromium.new_context(java_script_enabled=False).new_page()
    log_in(page, live_server.url)

    page.locator('tr[data-queue="default"] td.dead a').click()
    expect(page.locator("#tq-messages")).to_contain_text("1\u20132 of 3")
    page.get_by_role("link", name="Next").first.click()
    row = page.locator(f'tr[data-dead-id="{oldest}"]')
    expect(row.locator(".raw")).to_have_text("not json <0>")
    row.get_by_role("button", name="Delete").click()
    expect(page.locator("#tq-confirm")).to_contain_text("This touches 1 item.")
    page.get_by_role("button", name="Yes, I\u2019m sure").click()

    expect(page.locator(".messagelist")).to_contain_text("Deleted 1 dead letter(s)")
    expect(page).to_have_url(
        f"{live_server.url}/admin/queues/messages/default/dead/?page=2"
    )
    assert sorted(broker.dead_letter_ids("default")) == sorted(newer)
