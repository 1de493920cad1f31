"""Issue 11, item 9: every page passes an axe-core scan (no serious or critical violation) at
desktop and phone width, has its own title, a skip link, and headings in order."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import (
    RunningApp,
    add_alice,
    chapter_buttons,
    close_player_settings,
    is_compact,
    login,
    player_settings,
    screenshot,
)
from playwright.sync_api import Page, expect

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PAGES = {"/library": "Library", "/voices": "Voices", "/settings": "Settings", "/users": "Users"}
AXE = Axe()


def serious_violations(page: Page) -> list[str]:
    results = AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def heading_levels(page: Page) -> list[int]:
    return page.evaluate(
        "[...document.querySelectorAll('main h1, main h2, main h3, main h4')]"
        ".filter(h => h.offsetParent !== null).map(h => Number(h.tagName[1]))"
    )


def assert_headings_in_order(page: Page, where: str) -> None:
    levels = heading_levels(page)
    assert levels and levels[0] == 1, (where, levels)
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), (where, levels)


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(request, app: RunningApp, launch_browser) -> Page:
    context = launch_browser().new_context(base_url=app.base_url, viewport=request.param)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def test_the_sign_in_page_passes_axe(app: RunningApp, page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert serious_violations(page) == []
    assert "Sign in" in page.title()


def test_every_page_passes_axe_with_its_own_title_and_ordered_headings(
    app: RunningApp, page: Page
) -> None:
    login(page, app)
    titles = set()
    for path, name in PAGES.items():
        page.goto(path)
        expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert serious_violations(page) == [], path
        titles.add(page.title())
        assert name in page.title()
        assert_headings_in_order(page, path)
    assert len(titles) == len(PAGES)
    screenshot(page, f"settings-a11y-{page.viewport_size['width']}")


def test_a_skip_link_moves_focus_to_the_content(app: RunningApp, page: Page) -> None:
    login(page, app)
    page.goto("/settings")
    expect(page.get_by_role("heading", level=1, name="Settings")).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_the_reader_passes_axe_with_a_book_open_and_its_drawer_and_sheet(
    app: RunningApp, page: Page
) -> None:
    """The reader with Alice open; on a phone also with the Chapters drawer and the player's
    sheet open (on a desktop both are part of the page)."""
    login(page, app)
    book_id = add_alice(page)
    page.goto(f"/reader/{book_id}")
    expect(page.locator(".reader-text .sentence").first).to_contain_text("Alice was beginning")
    page.wait_for_load_state("networkidle")
    assert "Alice" in page.title()
    assert serious_violations(page) == [], "reader"
    assert_headings_in_order(page, "reader")
    if not is_compact(page):
        return
    chapter_buttons(page)
    assert serious_violations(page) == [], "reader, chapters drawer"
    screenshot(page, "reader-a11y-drawer")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Chapters")).to_have_count(0)
    player_settings(page)
    assert serious_violations(page) == [], "reader, player sheet"
    screenshot(page, "reader-a11y-sheet")
    close_player_settings(page)
