"""The task page in headless Chromium (issue 19): a failed task's traceback,
then Retry, and the linked new task's page showing it succeeded.

With TASKQUEUE_SCREENSHOT=1 the test also refreshes docs/task_page.png (the
docs' and README's picture); otherwise it writes to a temp file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from taskqueue.compat import TaskResultStatus
from tests import tasks
from tests.browser.test_dashboard import log_in
from tests.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "task_page.png"


@pytest.fixture
def failed(start_worker, tmp_path):
    """A task that failed on a real worker (which stays up to run the retry),
    set up before Chromium's event loop starts (see test_dashboard_controls)."""
    needed = tmp_path / "needed"
    task = tasks.fails_until_file_exists.using(priority=5)
    result = task.enqueue(str(needed))
    start_worker()
    wait_until(lambda: task.get_result(result.id).status == TaskResultStatus.FAILED)
    needed.touch()  # from now on the same call succeeds
    return result


@pytest.mark.usefixtures("admin_user")
def test_a_failed_task_shows_its_traceback_and_its_retry_succeeds(
    failed, chromium, live_server, tmp_path
):
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/queues/tasks/{failed.id}/")
    expect(page.locator(".tq-status")).to_have_text("FAILED")
    traceback = page.locator('tr[data-traceback="1"] .tq-traceback')
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("FileNotFoundError: no file at")

    page.locator('#tq-actions button[value="retry"]').click()

    expect(page.locator(".messagelist")).to_contain_text(
        f"Retried task {failed.id} as task"
    )
    target = (
        SCREENSHOT if os.environ.get("TASKQUEUE_SCREENSHOT") else tmp_path / "t.png"
    )
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    page.locator(".tq-retried-as a").click()
    expect(page.locator(".tq-retry-of")).to_have_text(failed.id)

    def succeeded() -> bool:
        page.reload()
        return page.locator(".tq-status").inner_text() == "SUCCESSFUL"

    wait_until(succeeded)
    expect(page.locator(".tq-return")).to_have_text('"found it"')
    page.close()
