"""Issue 11, items 4, 9 and 10: the reader built for a phone, reachable from the keyboard, and
telling a screen reader what the player does.

At 390×844 no page scrolls sideways; on the reader the text comes first, chapters are in a drawer
and voice, speed and sleep timer in a sheet. Sentences are reached with Tab and the arrow keys
and played with Enter; a polite live region announces play, pause and the like (not each
sentence).
"""

from __future__ import annotations

import json
import re

from conftest import (
    RunningApp,
    chapter_buttons,
    choose_voice,
    close_player_settings,
    login,
    open_alice,
    player_settings,
    screenshot,
)
from playwright.sync_api import Browser, Page, expect

STOCK_VOICE = "stock-joe"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def open_page(browser: Browser, app: RunningApp, viewport: dict[str, int]) -> Page:
    page = browser.new_context(base_url=app.base_url, viewport=viewport).new_page()
    page.set_default_timeout(30_000)
    return page


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def tts_speeds(page: Page) -> list[tuple[float, str]]:
    """(speed, voiceId) of every POST /api/tts the page makes from now on."""
    seen: list[tuple[float, str]] = []

    def on_request(request) -> None:
        if request.method == "POST" and request.url.endswith("/api/tts"):
            body = json.loads(request.post_data or "{}")
            seen.append((body.get("speed"), body.get("voiceId")))

    page.on("request", on_request)
    return seen


def test_no_page_scrolls_sideways_on_a_phone(app: RunningApp, launch_browser) -> None:
    page = open_page(launch_browser(), app, PHONE)
    widths: dict[str, int] = {}
    page.goto("/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    widths["sign-in"] = page_width(page)
    screenshot(page, "phone-sign-in")
    login(page, app)
    for path, heading in (
        ("/library", "Library"),
        ("/voices", "Voices"),
        ("/settings", "Settings"),
        ("/users", "Users"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        page.wait_for_load_state("networkidle")  # lists and tables filled in
        widths[path] = page_width(page)
        screenshot(page, f"phone-{heading.lower()}")
    page.goto("/voices")
    page.get_by_role("button", name="Record a voice").first.click()
    expect(page.get_by_role("dialog", name="Record a voice")).to_be_visible()
    widths["recorder"] = page_width(page)
    screenshot(page, "phone-recorder")
    open_alice(page)
    widths["reader"] = page_width(page)
    screenshot(page, "phone-reader")
    assert {name: width for name, width in widths.items() if width > PHONE["width"]} == {}
    chapter_buttons(page)
    widths["reader, chapters drawer"] = page_width(page)
    screenshot(page, "phone-reader-chapters")
    page.keyboard.press("Escape")
    player_settings(page)
    widths["reader, player sheet"] = page_width(page)
    screenshot(page, "phone-reader-player-sheet")
    assert {name: width for name, width in widths.items() if width > PHONE["width"]} == {}


def test_chapters_drawer_on_a_phone(app: RunningApp, launch_browser) -> None:
    page = open_page(launch_browser(), app, PHONE)
    login(page, app)
    open_alice(page)
    # The text comes first: no chapter list before it; the player bar opens the drawer.
    expect(page.get_by_role("navigation", name="Chapters")).to_have_count(0)
    opener = page.get_by_role("button", name="Chapters", exact=True)
    expect(opener).to_be_in_viewport()

    chapter_buttons(page).nth(1).click()  # "The Pool Of Tears"
    expect(page.get_by_role("dialog", name="Chapters")).to_have_count(0)
    expect(page.locator(".chapter-title")).to_have_text("The Pool Of Tears")
    expect(page.locator(".reader-text .sentence").first).to_contain_text("Curiouser and curiouser")
    expect(page.locator(".reader-text .sentence", has_text="Alice was beginning")).to_have_count(0)
    expect(opener).to_be_focused()

    # Escape closes it without choosing, and focus goes back to the button.
    chapters = chapter_buttons(page)
    expect(chapters.nth(1)).to_have_attribute("aria-current", "true")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Chapters")).to_have_count(0)
    expect(opener).to_be_focused()
    expect(page.locator(".chapter-title")).to_have_text("The Pool Of Tears")
    screenshot(page, "phone-drawer-closed")


def test_player_sheet_on_a_phone_sets_the_speed_playback_uses(
    app: RunningApp, launch_browser
) -> None:
    page = open_page(launch_browser(), app, PHONE)
    login(page, app)
    open_alice(page)
    bar = page.get_by_role("region", name="Player")
    expect(bar.locator("#voice-picker")).to_have_count(0)  # in the sheet, not the bar
    for name in ("Previous sentence", "Play", "Next sentence", "Voice, speed and sleep timer"):
        expect(bar.get_by_role("button", name=name, exact=True)).to_be_in_viewport(ratio=1)

    sheet = player_settings(page)
    sheet.locator("#voice-picker").select_option(STOCK_VOICE)
    sheet.get_by_test_id("speed").select_option("1.5")
    expect(sheet.get_by_test_id("sleep-timer")).to_be_visible()
    assert page_width(page) <= PHONE["width"]
    screenshot(page, "phone-player-sheet")
    close_player_settings(page)

    requests = tts_speeds(page)
    page.get_by_test_id("play-toggle").click()
    expect(page.get_by_test_id("player-status")).to_contain_text("Playing", timeout=90_000)
    assert requests, "no sentence audio was requested"
    assert set(requests) == {(1.5, STOCK_VOICE)}, requests


def test_a_sentence_is_played_from_the_keyboard_and_the_state_is_announced(
    app: RunningApp, launch_browser
) -> None:
    page = open_page(launch_browser(), app, DESKTOP)
    login(page, app)
    open_alice(page)
    choose_voice(page, STOCK_VOICE)
    live = page.get_by_test_id("player-announcement")
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_have_text("")

    # Tab reaches the text once (on the highlighted sentence); ↓ moves between sentences.
    page.get_by_role("link", name="← Library").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('sentence')"):
            break
    sentences = page.locator(".reader-text .sentence")
    expect(sentences.first).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    third = sentences.nth(2)
    expect(third).to_be_focused()
    expect(page.locator(".sentence.current")).to_have_attribute(
        "data-key", sentences.first.get_attribute("data-key") or ""
    )

    page.keyboard.press("Enter")
    expect(page.locator(".sentence.current")).to_have_attribute(
        "data-key", third.get_attribute("data-key") or ""
    )
    total = sentences.count()
    expect(page.get_by_test_id("player-status")).to_contain_text("Playing", timeout=90_000)
    expect(live).to_have_text(f"Playing sentence 3 of {total}.")
    # The highlight moves on; the live region does not announce each sentence.
    expect(page.locator(".sentence.current")).not_to_have_attribute(
        "data-key", third.get_attribute("data-key") or "", timeout=90_000
    )
    expect(live).to_have_text(f"Playing sentence 3 of {total}.")

    page.get_by_test_id("play-toggle").click()
    expect(page.get_by_test_id("player-status")).to_have_text(re.compile("Paused"))
    expect(live).to_have_text(re.compile(rf"^Paused at sentence \d+ of {total}\.$"))
    screenshot(page, "keyboard-sentence-paused")
