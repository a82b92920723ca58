"""Delete-all of dead letters asks first, in Chromium with JavaScript off (#19)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("admin_user")
def test_delete_all_goes_through_a_confirmation_page(
    chromium, live_server, broker, run_command
):
    for i in range(2):
        broker.push_raw("default", f"not json {i}".encode())
    assert run_command("runworker", "--burst", "--pool", "solo").returncode == 0
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server.url)

    page.get_by_role("button", name="Delete all of default").click()

    expect(page.locator("#tq-confirm")).to_contain_text("This touches 2 items.")
    expect(page.locator("#tq-confirm")).to_contain_text(
        "delete for good all dead letters"
    )
    assert broker.stats("default").dead == 2
    page.get_by_role("link", name="No, take me back").click()
    expect(page.locator('tr[data-queue="default"] .dead')).to_have_text("2")

    page.get_by_role("button", name="Delete all of default").click()
    page.get_by_role("button", name="Yes, I’m sure").click()  # noqa: RUF001

    expect(page.locator(".messagelist")).to_contain_text("Deleted 2 dead letter(s)")
    expect(page.locator('tr[data-queue="default"] .dead')).to_have_text("0")
    assert broker.stats("default").dead == 0
    context.close()
