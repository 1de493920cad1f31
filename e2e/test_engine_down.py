"""Issue 11 item 3: the voice engine stops during playback and comes back.

The player must stop at the sentence it has no audio for, say why in a banner, skip nothing,
and carry on by itself once the engine is back, without the listener touching anything.

This test runs its own app server and inference service (the helpers of the backend tests)
rather than `scripts/start.py`, so that it can kill the inference service and start it again
on the same port, whatever the supervisor does about a crashed child.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import REPO, SHARED_DATA, ensure_frontend_built, login, new_page, screenshot
from playwright.sync_api import Page, Response, expect

sys.path.insert(0, str(REPO / "backend" / "tests"))
from servers import (  # noqa: E402  (the backend tests' process helpers)
    ADMIN_PASSWORD,
    AppServer,
    InferenceServer,
    start_app,
    start_inference,
)

STOCK_VOICE = "stock-joe"
RECORDING = SHARED_DATA / "speech" / "ljspeech" / "LJ001-0001.wav"
WORDS = "river lantern meadow copper whistle harbor orchard pebble thistle compass candle ferry"
SENTENCES = [
    f"Sentence number {n} is about the {word} by the old stone bridge."
    for n, word in enumerate(WORDS.split(), start=1)
]


@dataclass
class Login:
    base_url: str
    username: str = "admin"
    password: str = ADMIN_PASSWORD


@dataclass
class Stack:
    app: AppServer
    inference: InferenceServer
    token: str

    def kill_inference(self) -> None:
        """A crash: SIGKILL, no goodbye to open connections."""
        process = self.inference.process
        assert process.proc is not None
        process.proc.send_signal(signal.SIGKILL)
        process.proc.wait(timeout=30)
        process.stop()  # closes its log

    def restart_inference(self) -> None:
        """The same service on the same port (its environment names the port)."""
        process = self.inference.process
        process.start()
        process.wait_for(
            self.inference.url + "/ready",
            300,
            ok=lambda r: r.status_code == 200 and r.json().get("ready") is True,
            headers={"Authorization": f"Bearer {self.token}"},
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ensure_frontend_built()
    data_dir = tmp_path_factory.mktemp("engine-down") / "data"
    inference = start_inference(data_dir)
    app = start_app(data_dir, inference_url=inference.url)
    try:
        yield Stack(app, inference, inference.token)
    finally:
        app.stop()
        inference.stop()


def add_book(page: Page) -> str:
    response = page.request.post(
        "/api/books",
        data={"title": "Engine trouble", "text": " ".join(SENTENCES), "language": "en"},
    )
    assert response.ok, response.text()
    return response.json()["id"]


def current_key(page: Page) -> str:
    current = page.locator(".sentence.current")
    expect(current).to_have_count(1)
    return current.get_attribute("data-key") or ""


def sentence_keys(page: Page) -> list[str]:
    return page.locator(".reader-text .sentence").evaluate_all("els => els.map(e => e.dataset.key)")


def engine_down_answer(response: Response) -> bool:
    return response.url.endswith("/api/tts") and response.status == 503


def expect_nothing_skipped(page: Page) -> None:
    expect(page.locator(".reader-text .sentence.failed")).to_have_count(0)
    expect(page.get_by_test_id("player-status")).not_to_contain_text("skipped")


def test_playback_waits_for_the_engine_and_resumes_by_itself(stack: Stack, launch_browser) -> None:
    page = new_page(launch_browser(), stack.app.url)
    login(page, Login(stack.app.url))
    book_id = add_book(page)
    page.goto(f"/reader/{book_id}")
    expect(page.locator(".reader-text .sentence")).to_have_count(len(SENTENCES))
    page.locator("#voice-picker").select_option(STOCK_VOICE)
    page.get_by_test_id("play-toggle").click()
    expect(page.get_by_test_id("player-status")).to_contain_text("Playing", timeout=60_000)

    stack.kill_inference()
    banner = page.get_by_test_id("engine-down")
    expect(banner).to_contain_text(
        "The voice engine stopped — playback resumes when it is back", timeout=60_000
    )
    expect(page.get_by_test_id("player-status")).to_have_text(
        "Waiting for the voice engine…", timeout=30_000
    )
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    waiting_at = current_key(page)
    keys = sentence_keys(page)
    assert keys.index(waiting_at) < len(keys) - 1, "the engine stopped too late to test"
    # The player waits: still on the same sentence two retries later, nothing skipped.
    for _ in range(2):
        page.wait_for_event("response", predicate=engine_down_answer, timeout=60_000)
    assert current_key(page) == waiting_at
    expect_nothing_skipped(page)
    expect(page.get_by_test_id("engine-status")).to_have_text(
        "Voice engine unavailable", timeout=30_000
    )
    screenshot(page, "engine-down-waiting")

    # Meanwhile the stock voice is still listed (remembered by the app server), and a voice
    # uploaded now fails with a way to prepare it again later.
    voices = page.context.new_page()
    upload = voices.request.post(
        "/api/voice/upload",
        multipart={
            "name": "Made while down",
            "language": "en",
            "consent": "attested",
            "audio": {"name": "me.wav", "mimeType": "audio/wav", "buffer": RECORDING.read_bytes()},
        },
    )
    assert upload.status == 503, upload.text()
    voices.goto("/voices")
    expect(voices.locator(".voice-card h3").filter(has_text="Joe")).to_have_count(1)
    made_while_down = voices.get_by_test_id("voice-card").filter(has_text="Made while down")
    expect(made_while_down).to_contain_text("Failed")
    retry = made_while_down.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()

    stack.restart_inference()
    expect(banner).to_have_count(0, timeout=60_000)
    expect(page.get_by_test_id("player-status")).to_contain_text("Playing", timeout=60_000)
    expect(page.locator(".sentence.current")).not_to_have_attribute(
        "data-key", waiting_at, timeout=90_000
    )
    assert keys.index(current_key(page)) > keys.index(waiting_at)
    expect_nothing_skipped(page)
    screenshot(page, "engine-down-resumed")

    retry.click()
    expect(made_while_down.locator(".badge.status-ready")).to_have_text("Ready", timeout=120_000)
    expect(retry).to_have_count(0)
