"""Issue 2, item 6: API keys are created in Settings, shown once, work, and can be revoked."""

from __future__ import annotations

import urllib.error
import urllib.request

from conftest import login, new_page, screenshot
from playwright.sync_api import expect


def status_with_key(base_url: str, key: str) -> int:
    request = urllib.request.Request(
        f"{base_url}/api/auth/me", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_create_use_and_revoke_an_api_key(app, launch_browser):
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Key name").fill("e2e automation")
    page.get_by_role("button", name="Create key").click()

    key = page.get_by_test_id("new-api-key").inner_text().strip()
    assert len(key) >= 20
    row = page.get_by_role("row").filter(has_text="e2e automation")
    expect(row).to_have_count(1)
    expect(row).not_to_contain_text(key)  # the list shows only the prefix
    screenshot(page, "settings-key-created")
    assert status_with_key(app.base_url, key) == 200

    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)  # shown once
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_have_count(0)
    assert status_with_key(app.base_url, key) == 401
