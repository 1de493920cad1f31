"""Issue 5: upload an EPUB through the UI, play it with the stock voice, reload, resume."""

from __future__ import annotations

import json
import re
import time
import zipfile

import pytest
from conftest import (
    ALICE,
    chapter_buttons,
    choose_voice,
    login,
    new_page,
    open_alice,
    screenshot,
)
from lxml import html
from playwright.sync_api import Browser, Page, expect

STOCK_VOICE = "stock-joe"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def current_sentence_key(page: Page) -> str:
    current = page.locator(".sentence.current")
    expect(current).to_have_count(1)
    return current.get_attribute("data-key") or ""


def sentence_index(page: Page, key: str) -> int:
    keys = page.locator(".reader-text .sentence").evaluate_all("els => els.map(e => e.dataset.key)")
    return keys.index(key)


def record_tts_requests(page: Page) -> list[dict]:
    """Collects the JSON bodies of the page's POST /api/tts requests."""
    bodies: list[dict] = []

    def on_request(request) -> None:
        if request.method == "POST" and request.url.endswith("/api/tts"):
            bodies.append(json.loads(request.post_data or "{}"))

    page.on("request", on_request)
    return bodies


def wait_until_saved(page: Page, base_url: str, sentence_id: str | None, timeout_s: float = 20):
    """Poll the book's saved position (with the page's own session) until it is `sentence_id`."""
    book_id = re.search(r"/reader/([^/?#]+)", page.url).group(1)
    deadline = time.monotonic() + timeout_s
    while True:
        saved = page.request.get(f"{base_url}/api/books/{book_id}/progress").json()
        if str(saved.get("sentence_id")) == sentence_id:
            return
        assert time.monotonic() < deadline, f"position never saved: {saved}, expected {sentence_id}"
        time.sleep(0.2)  # a poll interval: the loop checks the saved state itself


def test_upload_play_advance_and_resume_after_reload(app, launch_browser):
    assert ALICE.exists(), f"test book missing: {ALICE}"
    page = new_page(launch_browser(), app.base_url)
    login(page, app)

    # Import through the UI.
    page.get_by_role("button", name="Add a book").first.click()
    page.get_by_test_id("book-file").set_input_files(str(ALICE))
    page.get_by_role("dialog").get_by_role("button", name="Add book").click()
    page.wait_for_url(re.compile(r"/reader/[^/]+$"), timeout=60_000)

    chapters = page.get_by_role("navigation", name="Chapters").get_by_role("button")
    expect(chapters.filter(has_text="Down The Rabbit-Hole")).to_have_count(1)
    expect(page.locator(".chapter-title")).to_contain_text("Down The Rabbit-Hole")
    expect(page.locator(".reader-text .sentence").first).to_contain_text("Alice was beginning")
    screenshot(page, "reader-opened")

    # A fresh user has no voice of their own: pick the stock voice explicitly.
    page.locator("#voice-picker").select_option(STOCK_VOICE)
    first_key = current_sentence_key(page)

    tts_texts = record_tts_requests(page)
    page.get_by_test_id("play-toggle").click()
    expect(page.get_by_test_id("player-status")).to_contain_text("Playing", timeout=60_000)
    # The highlight moves on by itself as sentence audio plays back to back.
    expect(page.locator(".sentence.current")).not_to_have_attribute(
        "data-key", first_key, timeout=90_000
    )
    second_key = current_sentence_key(page)
    # While the second sentence plays, the two after it have been requested already.
    texts = page.locator(".reader-text .sentence").all_inner_texts()
    index = sentence_index(page, second_key)
    ahead = {texts[index + 1], texts[index + 2]}
    deadline = time.monotonic() + 5  # the page's request events reach the test a moment later
    while not ahead <= {body["text"] for body in tts_texts}:
        assert time.monotonic() < deadline, f"sentences ahead were not prefetched: {ahead}"
        page.wait_for_timeout(100)
    expect(page.locator(".sentence.current")).to_have_attribute("data-key", second_key)
    expect(page.locator(".sentence.current")).not_to_have_attribute(
        "data-key", second_key, timeout=90_000
    )
    screenshot(page, "reader-playing")

    page.get_by_test_id("play-toggle").click()  # pause
    expect(page.get_by_test_id("player-status")).to_have_text(re.compile("Paused"))
    paused_key = current_sentence_key(page)
    assert sentence_index(page, paused_key) >= 2, (
        "playback should have advanced at least two sentences"
    )
    # The position is saved a moment after it settles: wait until the server has it.
    paused_id = page.locator(".sentence.current").get_attribute("data-sentence-id")
    wait_until_saved(page, app.base_url, paused_id)

    page.reload()
    expect(page.locator(".sentence.current")).to_have_attribute(
        "data-key", paused_key, timeout=30_000
    )
    expect(page.get_by_test_id("player-status")).to_have_text("Ready")
    screenshot(page, "reader-restored")

    # Keyboard: → moves the highlight to the next sentence without playing.
    page.locator("body").press("ArrowRight")
    expect(page.locator(".sentence.current")).not_to_have_attribute("data-key", paused_key)


def test_pasted_text_opens_in_the_reader(app, launch_browser):
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    page.get_by_role("button", name="Add a book").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Paste text").click()
    dialog.get_by_label("Title").fill("A pasted note")
    dialog.get_by_label("Text").fill(
        "The first sentence is short. The second one follows it! Is there a third?"
    )
    dialog.get_by_role("button", name="Add book").click()
    page.wait_for_url(re.compile(r"/reader/[^/]+$"), timeout=60_000)
    sentences = page.locator(".reader-text .sentence")
    expect(sentences).to_have_count(3)
    expect(sentences.nth(1)).to_have_text("The second one follows it!")
    page.get_by_role("link", name="Library").first.click()
    expect(page.get_by_test_id("book-card").filter(has_text="A pasted note")).to_have_count(1)


def test_playback_crosses_into_the_next_chapter_by_itself(app, launch_browser):
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    page.get_by_role("button", name="Add a book").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Paste text").click()
    dialog.get_by_label("Title").fill("Two short chapters")
    dialog.get_by_label("Text").fill(
        "Chapter 1: The Start\n\nThe cat sat down. It was a sunny day.\n\n"
        "Chapter 2: The End\n\nThe dog came home. Everyone slept well."
    )
    dialog.get_by_role("button", name="Add book").click()
    page.wait_for_url(re.compile(r"/reader/[^/]+$"), timeout=60_000)
    chapters = page.get_by_role("navigation", name="Chapters").get_by_role("button")
    expect(chapters).to_have_count(2)
    expect(page.locator(".reader-text .sentence").first).to_have_text("The cat sat down.")

    page.locator("#voice-picker").select_option(STOCK_VOICE)
    page.get_by_test_id("speed").select_option("1.5")
    tts_bodies = record_tts_requests(page)
    page.get_by_test_id("play-toggle").click()
    # No click on chapter 2: the player loads it and the view follows the voice.
    expect(page.locator(".sentence.current")).to_have_text("The dog came home.", timeout=90_000)
    expect(page.locator(".chapter-title")).to_contain_text("The End")
    expect(chapters.nth(1)).to_have_attribute("aria-current", "true")
    expect(page.get_by_test_id("player-status")).to_have_text("The end", timeout=60_000)
    # Speed is applied by the server (pitch preserved), so every request carries it.
    assert tts_bodies, "no sentence audio was requested"
    for body in tts_bodies:
        assert (body.get("speed"), body.get("voiceId")) == (1.5, STOCK_VOICE), body


# --- issue 11: books read right ------------------------------------------------------------


def alice_paragraphs(chapter_number: int) -> list[str]:
    """Chapter N's paragraphs as its XHTML has them, in document order (plain lxml; figures
    and their captions are pictures, not text the reader reads)."""
    with zipfile.ZipFile(ALICE) as archive:
        page = html.fromstring(archive.read(f"OPS/chapter_{chapter_number:03d}.xhtml"))
    paragraphs = [
        " ".join(p.text_content().split())
        for p in page.iter("{*}p", "p")
        if not any(a.tag.endswith("figure") for a in p.iterancestors())
    ]
    return [text for text in paragraphs if text]


def open_alice_at(browser: Browser, app, viewport: dict) -> Page:
    """Signs in at `viewport`, adds Alice through the API and opens it in the reader with the
    stock voice chosen."""
    context = browser.new_context(base_url=app.base_url, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    login(page, app)
    open_alice(page)
    choose_voice(page, STOCK_VOICE)
    return page


def shown_paragraphs(page: Page) -> list[str]:
    texts = page.locator(".reader-text p").all_inner_texts()
    return [" ".join(text.split()) for text in texts]


def open_chapter(page: Page, number: int) -> None:
    chapter_buttons(page).nth(number - 1).click()
    first_words = " ".join(alice_paragraphs(number)[0].split()[:3])
    expect(page.locator(".reader-text p").first).to_contain_text(first_words)


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_alice_chapter_2_reads_in_the_documents_order(app, launch_browser, viewport):
    """The whole chapter, paragraph by paragraph, as chapter_002.xhtml has it: no sentence
    moved into another paragraph, no paragraph repeated, no lone quote on its own."""
    page = open_alice_at(launch_browser(), app, viewport)
    open_chapter(page, 2)
    expected = alice_paragraphs(2)
    expect(page.locator(".reader-text p")).to_have_count(len(expected))
    assert shown_paragraphs(page) == expected
    sentences = page.locator(".reader-text .sentence").all_inner_texts()
    assert all(re.search(r"[^\W_]", text) for text in sentences), "a sentence with no words"
    screenshot(page, f"alice-chapter-2-{viewport['width']}")


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_switching_chapters_replaces_the_text_scrolls_up_and_highlights_one_sentence(
    app, launch_browser, viewport
):
    page = open_alice_at(launch_browser(), app, viewport)
    for number in (2, 1, 2, 1):
        # Read down the chapter before switching.
        assert page.evaluate("window.scrollTo(0, document.body.scrollHeight), window.scrollY") > 0
        open_chapter(page, number)
        expected = alice_paragraphs(number)
        # Exactly this chapter's paragraphs: none left over from the chapter before.
        expect(page.locator(".reader-text p")).to_have_count(len(expected))
        assert shown_paragraphs(page) == expected, f"chapter {number}"
        expect(page.locator(".sentence.current")).to_have_count(1)
        expect(page.locator(".sentence.current")).to_have_text(
            page.locator(".reader-text .sentence").first.inner_text()
        )
        # Scrolled back to the chapter's start: the text's top at the window's top (or the
        # page's top, when something sits above the text).
        page.wait_for_function("""() => {
            const top = document.querySelector(".reader-text").getBoundingClientRect().top;
            return Math.abs(top) < 2 || (window.scrollY === 0 && top >= 0);
        }""")
    screenshot(page, f"chapter-switch-{viewport['width']}")
