"""The admin queue dashboard in headless Chromium, driven by Playwright.

Which Chromium (Playwright's own or the system's), and what happens when
there is none, is decided in conftest.py. With TASKQUEUE_SCREENSHOT=1 the
test also refreshes docs/dashboard.png (the README's picture); otherwise it
writes to a temp file, so running the suite leaves the working tree clean.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import tasks
from tests.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"


@pytest.fixture
def busy_queues(broker, run_command, start_worker):
    """A dead letter, a pending legacy message, a live worker, results and throughput."""
    broker.push_raw("default", b"\xff\xfe not utf-8, not json")
    tasks.permanent_failure.enqueue()
    assert run_command("runworker", "--burst", "--pool", "solo").returncode == 0
    broker.push_raw("default", b"{'recipe_id': 5}")  # the original producer's format
    now = int(time.time() // 60)
    for minute in range(now - 59, now):  # an hour of history for the chart
        broker.count_minute(
            minute, {"succeeded": 20 + (minute * 7) % 30, "failed": minute % 4}
        )
    worker = start_worker(
        "--queue", "high", "--concurrency", "2", "--name", "demo-worker"
    )
    for i in range(12):
        tasks.high_add.enqueue(i, i)
    wait_until(
        lambda: broker.stats("high").pending == 0 and broker.workers(), timeout=30
    )
    return worker


def log_in(page, base_url):
    page.goto(f"{base_url}/admin/login/?next=/admin/queues/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{base_url}/admin/queues/")


@pytest.mark.usefixtures("admin_user", "busy_queues")
def test_dashboard_shows_queues_and_requeues_a_dead_letter(
    chromium, live_server, broker, tmp_path
):
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    log_in(page, live_server.url)
    default = page.locator('tr[data-queue="default"]')
    expect(default.locator(".pending")).to_have_text("1")
    expect(default.locator(".dead")).to_have_text("1")
    expect(page.locator("#tq-workers")).to_contain_text("demo-worker")
    expect(page.locator("#tq-throughput svg rect.ok").first).to_be_attached()
    target = (
        SCREENSHOT
        if os.environ.get("TASKQUEUE_SCREENSHOT")
        else tmp_path / "dashboard.png"
    )
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000

    # The page refreshes itself: a message pushed now shows up without a reload.
    broker.push_raw("default", b'{"recipe_id": 6}')
    expect(default.locator(".pending")).to_have_text("2", timeout=10_000)

    dead_id = broker.dead_letter_ids("default")[0]
    page.locator(f'tr[data-dead-id="{dead_id}"] button[value="requeue"]').click()

    expect(page.locator(".messagelist")).to_contain_text("Requeued 1 dead letter(s)")
    expect(default.locator(".dead")).to_have_text("0")
    expect(default.locator(".pending")).to_have_text("3")
    assert broker.dead_letter_ids("default") == []

    # Recent results: the failure and the high queue's successes; filter by status.
    recent = page.locator("#tq-recent-rows")
    expect(recent.locator('tr[data-status="FAILED"]')).to_contain_text(
        "PermanentError: cannot ever work"
    )
    expect(recent.locator('tr[data-status="SUCCESSFUL"]').first).to_contain_text(
        "tests.tasks.high_add"
    )
    page.select_option('#tq-filters select[name="status"]', "FAILED")
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(recent.locator("tr[data-task-id]")).to_have_count(1)
    expect(recent.locator('tr[data-status="FAILED"]')).to_have_count(1)
    page.close()
