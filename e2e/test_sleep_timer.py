"""Issue 11 item 4: the sleep timer (end of chapter), Play again at the end of a book, and the
Media Session's title, at desktop and phone size."""

from __future__ import annotations

import re

import pytest
from conftest import (
    chapter_buttons,
    close_player_settings,
    is_compact,
    login,
    player_settings,
    screenshot,
)
from playwright.sync_api import Page, expect

STOCK_VOICE = "stock-joe"
TITLE = "Sleepy two chapters"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def open_page(browser, base_url: str, size: tuple[int, int]) -> Page:
    width, height = size
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def add_two_chapter_book(page: Page) -> None:
    page.get_by_role("button", name="Add a book").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Paste text").click()
    dialog.get_by_label("Title").fill(TITLE)
    dialog.get_by_label("Text").fill(
        "Chapter 1: The Start\n\nThe cat sat down. It was a sunny day.\n\n"
        "Chapter 2: The End\n\nThe dog came home. Everyone slept well."
    )
    dialog.get_by_role("button", name="Add book").click()
    page.wait_for_url(re.compile(r"/reader/[^/]+$"), timeout=60_000)
    expect(page.locator(".reader-text .sentence").first).to_have_text("The cat sat down.")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_sleep_at_chapter_end_then_play_again_from_the_start(app, launch_browser, viewport):
    page = open_page(launch_browser(), app.base_url, VIEWPORTS[viewport])
    login(page, app)
    add_two_chapter_book(page)
    status = page.get_by_test_id("player-status")
    current = page.locator(".sentence.current")

    settings = player_settings(page)  # on a phone, the sheet
    settings.locator("#voice-picker").select_option(STOCK_VOICE)
    settings.get_by_test_id("speed").select_option("1.5")
    settings.get_by_test_id("sleep-timer").select_option("chapter")
    expect(settings.get_by_test_id("sleep-remaining")).to_contain_text("end of this chapter")
    close_player_settings(page)
    page.get_by_test_id("play-toggle").click()

    # The lock screen shows the book while it plays.
    page.wait_for_function(
        "title => navigator.mediaSession.metadata?.title === title", arg=TITLE, timeout=30_000
    )
    expect(current).to_have_text("It was a sunny day.", timeout=90_000)
    # The chapter ends: playback pauses there instead of crossing into chapter 2.
    expect(status).to_have_text("Paused", timeout=60_000)
    expect(page.locator(".chapter-title")).to_contain_text("The Start")
    settings = player_settings(page)
    expect(settings.get_by_test_id("sleep-timer")).to_have_value("off")  # used up
    expect(settings.get_by_test_id("sleep-remaining")).to_have_count(0)
    close_player_settings(page)
    chapters = chapter_buttons(page)
    expect(chapters.nth(0)).to_have_attribute("aria-current", "true")
    if is_compact(page):
        page.keyboard.press("Escape")
    assert page.evaluate("navigator.mediaSession.playbackState") == "paused"
    screenshot(page, f"sleep-timer-chapter-end-{viewport}")

    # Play goes on with chapter 2, to the end of the book.
    page.get_by_test_id("play-toggle").click()
    expect(current).to_have_text("Everyone slept well.", timeout=90_000)
    expect(status).to_have_text("The end", timeout=60_000)

    # At the end, Play starts the book again from its first sentence.
    play = page.get_by_test_id("play-toggle")
    expect(play).to_be_enabled()
    play.click()
    expect(page.locator(".chapter-title")).to_contain_text("The Start", timeout=30_000)
    expect(current).to_have_text("The cat sat down.", timeout=30_000)
    expect(status).not_to_have_text("The end")
    assert page.evaluate("navigator.mediaSession.metadata.title") == TITLE
