"""The dashboard's worker table, live in headless Chromium, against real workers.

A SIGKILLed worker is marked lost once its heartbeat is older than
WORKER_TIMEOUT (2 s in tests), without a reload (the page refreshes every
3 s); one stopped cleanly leaves the table at its next refresh.
"""

from __future__ import annotations

import re
import signal
import time

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard import log_in
from tests.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REFRESH = 3.0  # seconds between the page's refreshes (dashboard.html)
TIMEOUT = 2.0  # WORKER_TIMEOUT in tests


@pytest.fixture
def two_workers(broker, start_worker):
    """Started before Chromium (see test_dashboard_controls.running)."""
    workers = {name: start_worker("--name", name) for name in ("doomed", "leaving")}
    wait_until(lambda: set(broker.workers()) == set(workers), timeout=15)
    return workers


@pytest.mark.usefixtures("admin_user")
def test_a_killed_worker_turns_lost_and_a_stopped_one_disappears(
    two_workers, chromium, live_server
):
    # Given the dashboard open on two live workers
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    log_in(page, live_server.url)
    doomed = page.locator('#tq-workers tr[data-worker="doomed"]')
    leaving = page.locator('#tq-workers tr[data-worker="leaving"]')
    expect(doomed).to_have_class(re.compile("tq-live"))
    expect(leaving).to_have_class(re.compile("tq-live"))

    # When one is SIGKILLed, it is marked lost within the timeout (+ a refresh)
    two_workers["doomed"].signal(signal.SIGKILL)
    two_workers["doomed"].wait(timeout=5)
    killed = time.monotonic()
    expect(doomed).to_have_class(re.compile("tq-lost"), timeout=15_000)
    assert time.monotonic() - killed <= TIMEOUT + 1 + REFRESH + 1  # + a beat, slack
    expect(doomed.locator(".state")).to_contain_text("lost")

    # And the other, stopped cleanly, leaves the table at the next refresh
    two_workers["leaving"].signal(signal.SIGTERM)
    assert two_workers["leaving"].wait(timeout=15) == 0
    stopped = time.monotonic()
    expect(leaving).to_have_count(0, timeout=10_000)
    assert time.monotonic() - stopped <= REFRESH + 1
    expect(doomed).to_have_count(1)  # the lost one stays, for recovery to act on
    page.close()
