"""Word by word: the reader highlights the word being said inside the sentence being read.

A chapter prepared ahead with the stock voice carries word timings for every sentence (heard by
speech recognition in the inference service). While it plays, the page's highlighted word must
move through the sentence's words in order: a MutationObserver in the page records every word
that was highlighted, so no short word is missed by polling.
"""

from __future__ import annotations

from conftest import choose_voice, login, new_page, screenshot
from playwright.sync_api import expect
from test_render_ahead import add_pasted_book

TEXT = "Chapter 1: Field\n\nThe fox ran across the frozen field. It was late."
SENTENCE = "The fox ran across the frozen field."

RECORD_WORDS = """() => {
  window.__heardWords = [];
  const text = document.querySelector(".reader-text");
  const note = () => {
    const word = text.querySelector(".sentence.current .word.current-word");
    const said = word ? word.textContent : null;
    const last = window.__heardWords[window.__heardWords.length - 1];
    if (said && said !== last) window.__heardWords.push(said);
  };
  new MutationObserver(note).observe(text, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["class"],
  });
}"""


def test_the_word_being_said_is_highlighted_and_moves(app, launch_browser):
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    book_id = add_pasted_book(page, "Words", TEXT)
    expect(page.locator(".reader-text .sentence").first).to_have_text(SENTENCE)
    choose_voice(page, "stock-joe")
    panel = page.get_by_role("region", name="Prepare audio")
    panel.get_by_role("button", name="Prepare this chapter").click()
    expect(panel.get_by_test_id("render-job")).to_have_attribute(
        "data-status", "done", timeout=120_000
    )
    job = page.request.get(f"/api/books/{book_id}/renders").json()[0]
    assert job["verification"]["passed_first_take"] == 2, job

    page.evaluate(RECORD_WORDS)
    page.get_by_test_id("play-toggle").click()
    expect(page.locator(".sentence.current .word.current-word")).to_have_count(1, timeout=60_000)
    screenshot(page, "reader-current-word")
    expect(page.get_by_test_id("player-status")).to_have_text("The end", timeout=90_000)

    heard = page.evaluate("window.__heardWords")
    first = [w.strip(".") for w in SENTENCE.split()]
    said = [w for w in heard if w in first]
    # In order, and most of the words (a tick may fall between two short words).
    positions = [first.index(w) for w in said]
    assert positions == sorted(positions), heard
    assert len(set(said)) >= 4, heard
    assert "late" in heard or "It" in heard, heard  # it moved on into the next sentence
