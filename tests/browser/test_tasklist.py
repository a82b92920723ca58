"""The task list in headless Chromium: one task found among 10,000, paging to the oldest.

With TASKQUEUE_SCREENSHOT=1 it also refreshes docs/tasklist.png (the docs'
picture); otherwise the screenshot goes to a temp file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import expect

from tests.tasklist_seed import seed, seed_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "tasklist.png"
COUNT = 10_000
NEEDLE = 9_876  # the only task whose path starts with "recipe.needle."


@pytest.fixture
def ten_thousand(broker):
    seed(broker, 0, COUNT)
    k = broker.keys("default")
    envelope = {
        "v": 1,
        "id": seed_id(NEEDLE),
        "task": "recipe.needle.find_me",
        "queue": "default",
    }
    broker.client.hset(k.result(seed_id(NEEDLE)), "msg", orjson.dumps(envelope))


@pytest.mark.usefixtures("admin_user", "ten_thousand")
def test_finds_one_task_among_ten_thousand_and_pages_to_the_oldest(
    chromium, live_server, tmp_path
):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/queues/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.click("#tq-tasks-link")
    rows = page.locator("#tq-tasks tbody tr[data-task-id]")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-task-id", seed_id(COUNT - 1))
    target = (
        SCREENSHOT
        if os.environ.get("TASKQUEUE_SCREENSHOT")
        else tmp_path / "tasklist.png"
    )
    page.screenshot(path=str(target), full_page=False)

    # By id (exact): one row, linked to the task.
    page.fill('input[name="id"]', seed_id(1234))
    page.click("#tq-task-search button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-task-id", seed_id(1234))
    expect(rows.first.locator("a")).to_have_attribute("href", re.compile(seed_id(1234)))

    # By path prefix: the one task under recipe.needle.
    page.click("text=Clear")
    page.fill('input[name="path"]', "recipe.needle.")
    page.click("#tq-task-search button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("recipe.needle.find_me")
    expect(page.locator("#tq-searched")).to_contain_text(
        "Searched 250 tasks back to"
    )  # 500 over two queues

    # Paging, without the filter: older, then the oldest page ends at the first task.
    page.click("text=Clear")
    page.click("#tq-older")
    expect(rows.first).to_have_attribute("data-task-id", seed_id(COUNT - 51))
    page.click("#tq-oldest")
    expect(rows.last).to_have_attribute("data-task-id", seed_id(0))
    expect(rows).to_have_count(50)
    expect(page.locator("#tq-older")).to_have_count(0)
    page.click("#tq-newer")
    expect(rows.last).to_have_attribute("data-task-id", seed_id(50))
    page.close()
