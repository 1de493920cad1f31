"""Issue 11, items 5–7 in the browser: preferences follow the account into a second browser,
administrators manage users on the Users page, a password change signs other browsers out, and a
new user is guided through the first steps."""

from __future__ import annotations

import secrets

import pytest
from conftest import RunningApp, login, screenshot
from playwright.sync_api import Browser, Page, expect

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def open_page(browser: Browser, app: RunningApp, viewport: dict[str, int]) -> Page:
    """A new browser context: its own cookies and storage, as another browser would have."""
    context = browser.new_context(base_url=app.base_url, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def go_to(page: Page, link: str) -> None:
    """Follows a main-navigation link (on a phone the navigation may sit in a menu)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()


def add_user(page: Page, username: str, password: str) -> None:
    """On the admin's Users page: adds a user and waits for its row."""
    go_to(page, "Users")
    form = page.get_by_role("region", name="Add a user")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password (at least 8 characters)").fill(password)
    form.get_by_role("button", name="Add user").click()
    expect(page.get_by_test_id("user-row").filter(has_text=username)).to_have_count(1)


def no_horizontal_scroll(page: Page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


@pytest.fixture
def admin_page(app: RunningApp, launch_browser) -> Page:
    page = open_page(launch_browser(), app, DESKTOP)
    login(page, app)
    return page


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_preferences_follow_the_account_into_a_second_browser(
    app: RunningApp, launch_browser, admin_page: Page, viewport: dict[str, int]
) -> None:
    username, password = f"prefs-{secrets.token_hex(3)}", "prefs-password-1"
    add_user(admin_page, username, password)
    browser = launch_browser()
    first = open_page(browser, app, viewport)
    sign_in(first, username, password)
    go_to(first, "Settings")
    # Changes are sent together after a pause; a later PATCH carries every change not yet sent,
    # so the one that carries the sleep timer is the last one needed.
    with first.expect_response(
        lambda r: (
            r.url.endswith("/api/preferences")
            and r.request.method == "PATCH"
            and "sleep_timer" in (r.request.post_data or "")
        )
    ) as saved:
        first.get_by_test_id("settings-speed").select_option("1.5")
        first.get_by_test_id("settings-sleep-timer").select_option("30")
    assert saved.value.ok
    second = open_page(browser, app, viewport)
    sign_in(second, username, password)
    go_to(second, "Settings")
    expect(second.get_by_test_id("settings-speed")).to_have_value("1.5")
    expect(second.get_by_test_id("settings-sleep-timer")).to_have_value("30")
    assert no_horizontal_scroll(second)
    screenshot(second, f"settings-second-browser-{viewport['width']}")


def test_users_page_adds_disables_enables_and_resets_a_user(
    app: RunningApp, launch_browser, admin_page: Page
) -> None:
    username, password = f"managed-{secrets.token_hex(3)}", "first-password-1"
    add_user(admin_page, username, password)
    row = admin_page.get_by_test_id("user-row").filter(has_text=username)
    screenshot(admin_page, "users-page")

    member = open_page(launch_browser(), app, DESKTOP)
    sign_in(member, username, password)
    member.get_by_role("navigation", name="Main").wait_for()

    row.get_by_role("button", name="Disable").click()
    expect(row).to_contain_text("Disabled")
    member.reload()  # the disabled member's session no longer works
    expect(member.get_by_role("heading", name="Sign in to Ownvoice")).to_be_visible()
    sign_in(member, username, password)
    expect(member.get_by_role("alert")).to_contain_text("disabled")

    row.get_by_role("button", name="Enable").click()
    expect(row).to_contain_text("Active")
    admin_page.once("dialog", lambda dialog: dialog.accept("second-password-2"))
    row.get_by_role("button", name="Reset password").click()
    expect(row.get_by_role("status")).to_contain_text("Password reset")
    sign_in(member, username, password)
    expect(member.get_by_role("alert")).to_contain_text("Wrong username or password")
    sign_in(member, username, "second-password-2")
    member.get_by_role("navigation", name="Main").wait_for()


def test_the_users_page_fits_a_phone(app: RunningApp, launch_browser) -> None:
    page = open_page(launch_browser(), app, PHONE)
    login(page, app)
    page.goto("/users")
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    assert no_horizontal_scroll(page)
    screenshot(page, "users-page-phone")


def test_a_password_change_signs_out_every_other_browser(
    app: RunningApp, launch_browser, admin_page: Page
) -> None:
    username, old, new = f"mover-{secrets.token_hex(3)}", "old-password-1", "new-password-2"
    add_user(admin_page, username, old)
    browser = launch_browser()
    here, elsewhere = open_page(browser, app, DESKTOP), open_page(browser, app, DESKTOP)
    for page in (here, elsewhere):
        sign_in(page, username, old)
        page.get_by_role("navigation", name="Main").wait_for()
    go_to(here, "Settings")
    card = here.get_by_role("region", name="Password")
    card.get_by_label("Current password").fill(old)
    card.get_by_label("New password (at least 8 characters)").fill(new)
    card.get_by_label("New password again").fill(new)
    card.get_by_role("button", name="Change password").click()
    expect(card.get_by_role("status")).to_contain_text("Password changed")

    elsewhere.reload()
    expect(elsewhere.get_by_role("heading", name="Sign in to Ownvoice")).to_be_visible()
    here.reload()  # the browser that changed it stays signed in
    expect(here.get_by_role("heading", name="Settings")).to_be_visible()
    sign_in(elsewhere, username, new)
    elsewhere.get_by_role("navigation", name="Main").wait_for()


def test_a_new_user_is_guided_through_the_first_steps(
    app: RunningApp, launch_browser, admin_page: Page
) -> None:
    username, password = f"newcomer-{secrets.token_hex(3)}", "newcomer-pass-1"
    add_user(admin_page, username, password)
    page = open_page(launch_browser(), app, PHONE)
    sign_in(page, username, password)
    guide = page.get_by_role("region", name="Get started in three steps")
    expect(guide).to_be_visible()
    for step in ("voice", "book", "listened"):
        expect(page.get_by_test_id(f"first-run-{step}")).not_to_have_class("done")
    screenshot(page, "first-run-guide-phone")
    guide.get_by_role("button", name="Add a book").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Paste text").click()
    dialog.get_by_label("Title").fill("A first book")
    dialog.get_by_label("Text").fill("The first sentence. The second sentence.")
    dialog.get_by_role("button", name="Add book").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    expect(page.get_by_test_id("first-run-book")).to_have_class("done")
    expect(page.get_by_test_id("first-run-voice")).not_to_have_class("done")
    assert no_horizontal_scroll(page)
