"""The dashboard's Schedules section in headless Chromium: pause, resume and run
a schedule that a real worker is firing."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard import log_in
from tests.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEDULES = {"tick": {"task": "tests.tasks.scheduled_run", "every": 1}}


def state(broker):
    (s,) = broker.schedule_states([("tick", "default")])
    return s


@pytest.mark.usefixtures("admin_user")
def test_pause_resume_and_run_from_the_dashboard(
    chromium, live_server, broker, settings, start_worker
):
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {
        **tasks["default"]["OPTIONS"],
        "SCHEDULES": SCHEDULES,
    }
    settings.TASKS = tasks
    start_worker("--name", "w", env={"TQ_TEST_SCHEDULES": json.dumps(SCHEDULES)})
    wait_until(lambda: state(broker).counts["fired"] >= 1, timeout=20)

    page = chromium.new_page()
    log_in(page, live_server.url)
    row = page.locator('#tq-schedules tr[data-schedule="tick"]')
    expect(row).to_contain_text("every 1s")
    expect(row.locator(".paused")).to_have_text("no")
    row.locator('button[value="pause"]').click()
    expect(page.locator(".messagelist")).to_contain_text("Schedule tick paused.")
    expect(row.locator(".paused")).to_have_text("paused")
    wait_until(
        lambda: state(broker).counts["skipped:paused"] >= 1, timeout=10
    )  # the worker saw it

    fired = state(broker).counts["fired"]
    row.locator('button[value="run"]').click()
    expect(page.locator(".messagelist")).to_contain_text(
        "Schedule tick: one run enqueued"
    )
    assert state(broker).counts["fired"] == fired + 1

    row.locator('button[value="resume"]').click()
    expect(row.locator(".paused")).to_have_text("no")
    wait_until(lambda: state(broker).counts["fired"] >= fired + 2, timeout=10)
