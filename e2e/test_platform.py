"""Issue 2, item 7: from scratch, sign in through the real UI and see the engine ready."""

from __future__ import annotations

from conftest import login, new_page, screenshot
from playwright.sync_api import expect


def test_wrong_password_is_refused_with_a_message(app, launch_browser):
    page = new_page(launch_browser(), app.base_url)
    page.goto("/")
    page.get_by_label("Username").fill(app.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    screenshot(page, "login-error")


def test_login_shows_engine_ready_and_logout_returns_to_login(app, launch_browser):
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    expect(page.get_by_test_id("engine-status")).to_have_text("Voice engine ready", timeout=60_000)
    for section in ("Library", "Reader", "Voices", "Settings"):
        expect(page.get_by_role("link", name=section)).to_be_visible()
    screenshot(page, "library-empty")

    page.reload()  # the session cookie keeps the user signed in
    expect(page.get_by_test_id("engine-status")).to_have_text("Voice engine ready")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
