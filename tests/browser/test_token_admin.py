"""An API token created in the admin, in Chromium: the key shown once, then revoked (#19).

The key is checked against the live server over HTTP, from a browser
context without the admin's session (no ORM in this thread: Playwright's
sync API runs an event loop here).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _api_status(chromium, base_url: str, key: str) -> int:
    """GET /api/queues/ with the key alone (a fresh context: no session cookie)."""
    context = chromium.new_context()
    try:
        response = context.request.get(
            f"{base_url}/api/queues/", headers={"Authorization": f"Token {key}"}
        )
        return response.status
    finally:
        context.close()


@pytest.mark.usefixtures("admin_user", "broker")
def test_create_a_token_copy_its_key_then_revoke_it(chromium, live_server):
    page = chromium.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/taskqueue/apitoken/add/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.select_option("#id_user", label="admin")
    page.fill("#id_name", "deploy bot")
    page.get_by_role("button", name="Save", exact=True).click()

    key = page.locator("#tq-token-key").inner_text().strip()
    assert len(key) >= 40
    assert _api_status(chromium, live_server.url, key) == 200

    page.get_by_role("link", name="Done").click()
    expect(page.locator("#result_list")).to_contain_text(key[:8])
    expect(page.locator("body")).not_to_contain_text(key)
    page.locator("#result_list a", has_text=key[:8]).click()
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Yes, I’m sure").click()  # noqa: RUF001

    expect(page.locator(".messagelist")).to_contain_text("deleted successfully")
    assert _api_status(chromium, live_server.url, key) == 401
    page.close()
