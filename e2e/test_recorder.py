"""Issue 3: record a voice in Chromium with a WAV file as the microphone, save, see the report.
Issue 15: the take ends with the consent sentence, which the server hears (consent=spoken)."""

from __future__ import annotations

import json
import re
import sys
import urllib.request
import warnings
import wave
from pathlib import Path

import pytest
from conftest import E2E_API_KEY, SHARED_DATA, login, new_page, screenshot
from playwright.sync_api import expect

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # stdlib up to Python 3.12; resampling a test fixture needs nothing more

UPLOADED = SHARED_DATA / "speech" / "ljspeech" / "LJ001-0001.wav"
MIC_RATE = 48_000
RECORD_SECONDS = 22
SPEAKER = "Linda Johnson"
# The microphone file loops: at most half a take long, so every take holds one whole loop.
LOOP_SECONDS = RECORD_SECONDS / 2
MIC_TEXTS = [
    "She laughed and pointed past the harbour, where fishing boats bobbed by the jetty.",
    f"I, {SPEAKER}, agree that Ownvoice may create a synthetic copy of my voice.",
]


def spoken(app, text: str) -> tuple[bytes, int]:
    """`text` read by the stock Piper voice through the app: (s16le mono PCM, its rate)."""
    request = urllib.request.Request(
        f"{app.base_url}/api/tts",
        data=json.dumps({"text": text, "voiceId": "stock-joe", "format": "pcm_24000"}).encode(),
        headers={"Authorization": f"Bearer {E2E_API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read(), 24_000


def make_microphone_wav(app, path: Path) -> float:
    """One speaker (Piper) reading a sentence of the passage and the consent sentence, with
    pauses, at 48 kHz mono 16-bit: what the server must hear for consent=spoken."""
    frames = bytearray()
    for text in MIC_TEXTS:
        audio, rate = spoken(app, text)
        audio, _ = audioop.ratecv(audio, 2, 1, rate, MIC_RATE, None)
        frames += audio + bytes(MIC_RATE)  # half a second of silence after each
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(MIC_RATE)
        out.writeframes(bytes(frames))
    return len(frames) / 2 / MIC_RATE


@pytest.fixture(scope="module")
def microphone_wav(app, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mic") / "speech-48k.wav"
    seconds = make_microphone_wav(app, path)
    assert 6 <= seconds <= LOOP_SECONDS, f"{seconds:.1f} s of test speech"
    return path


def metric_value(page, label: str) -> float:
    text = page.locator(".metric", has_text=label).locator("dd").inner_text()
    match = re.search(r"-?\d+(\.\d+)?", text)
    assert match, f"{label} shows no number: {text!r}"
    return float(match.group())


def test_record_with_fake_microphone_save_and_see_report(app, launch_browser, microphone_wav):
    browser = launch_browser(
        [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone_wav}",
        ]
    )
    page = new_page(browser, app.base_url)
    login(page, app)
    page.get_by_role("link", name="Voices").click()
    page.get_by_role("button", name="Record a voice").first.click()
    dialog = page.get_by_role("dialog", name="Record a voice")
    record = dialog.get_by_role("button", name="Record")
    expect(record).to_be_disabled()  # the consent sentence needs a name
    name = SPEAKER
    dialog.get_by_label("Your name").fill(name)
    record.click()

    expect(dialog.get_by_test_id("countdown")).to_be_visible()
    expect(dialog.get_by_test_id("elapsed")).to_be_visible(timeout=10_000)
    expect(dialog.get_by_label("Text to read aloud")).to_contain_text(
        f"I, {name}, agree that Ownvoice may create a synthetic copy of my voice."
    )
    # The meter hears the file's speech, not silence.
    expect(dialog.get_by_test_id("level-bar")).to_have_attribute("data-level", "ok", timeout=10_000)
    expect(dialog.get_by_test_id("hints")).to_contain_text("keep reading")
    elapsed = dialog.get_by_test_id("elapsed")
    expect(elapsed).to_have_text(re.compile(r"0:(0[89]|[1-9]\d)"), timeout=30_000)
    screenshot(page, "recorder-recording")
    # Stop once the take is RECORD_SECONDS (22) long, as the recorder's own clock shows it.
    expect(elapsed).to_have_text(re.compile(r"0:2[2-9]"), timeout=(RECORD_SECONDS + 30) * 1000)
    dialog.get_by_role("button", name="Stop").click()

    expect(dialog.get_by_test_id("preview")).to_be_visible()
    expect(dialog.get_by_text(re.compile(r"Your take: 0:2\d"))).to_be_visible()
    dialog.get_by_role("button", name="Save voice").click()

    report = page.get_by_test_id("quality-report")
    expect(report).to_be_visible(timeout=180_000)
    screenshot(page, "recorder-report")
    speech = metric_value(page, "Speech")
    assert 10 <= speech <= 30, f"the recording should hold real speech, report says {speech} s"
    saved = page.get_by_role("dialog", name="Your new voice")
    expect(saved.get_by_role("button", name="Hear it")).to_be_visible()
    # "Hear it" speaks a test sentence in the new voice: its audio must arrive and play.
    # (The tiny random model babbles up to its length limit, so generation takes a while.)
    saved.get_by_role("button", name="Hear it").click()
    expect(saved.get_by_role("button", name="Playing…")).to_be_visible(timeout=240_000)
    expect(saved.get_by_role("alert")).to_have_count(0)
    saved.get_by_role("button", name="Done").click()

    card = page.get_by_test_id("voice-card").filter(has_text=name)
    expect(card).to_contain_text("Ready")
    # The server heard the consent sentence in the take, in the same voice, and keeps a record.
    voices = page.request.get("/api/voices").json()["voices"]
    consent = next(v for v in voices if v["name"] == name)["consent"]
    assert consent["method"] == "spoken", consent
    assert "synthetic copy of my voice" in consent["transcript"].lower(), consent
    # One of the user's voices (the first one made) is the default for "Use My Voice".
    expect(page.locator(".voice-card .badge-accent")).to_have_count(1)
    screenshot(page, "voices-list")


def _press_record(browser, app):
    """Open the recorder from Voices, name the speaker and press Record; returns (page, dialog)."""
    page = new_page(browser, app.base_url)
    login(page, app)
    page.get_by_role("link", name="Voices").click()
    page.get_by_role("button", name="Record a voice").first.click()
    dialog = page.get_by_role("dialog", name="Record a voice")
    dialog.get_by_label("Your name").fill("Someone")
    dialog.get_by_role("button", name="Record").click()
    return page, dialog


def test_microphone_permission_denied_is_explained(app, launch_browser):
    # A real device stands in, but without the auto-accept flag the permission
    # request is refused, as when a user clicks "Block".
    browser = launch_browser(["--use-fake-device-for-media-stream"])
    page, dialog = _press_record(browser, app)
    expect(dialog.get_by_test_id("mic-error")).to_contain_text(
        "Microphone access was blocked", timeout=15_000
    )
    expect(dialog.get_by_role("button", name="Record")).to_be_enabled()  # can try again
    screenshot(page, "recorder-denied")


def test_bad_upload_is_refused_and_existing_voices_stay(app, launch_browser, tmp_path):
    fake = tmp_path / "not-audio.wav"
    fake.write_text("This is a text file pretending to be a recording.\n" * 50)
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    page.get_by_role("link", name="Voices").click()
    # The stock voices' heading shows once the list has loaded; counting before it would count none.
    page.get_by_role("heading", name="Stock voices").wait_for()
    before = page.get_by_test_id("voice-card").count()

    page.get_by_role("button", name="Upload a recording").click()
    dialog = page.get_by_role("dialog", name="Upload a recording")
    dialog.get_by_test_id("voice-file").set_input_files(str(fake))
    dialog.get_by_label("Voice name").fill("Not a voice")
    dialog.get_by_role("checkbox").check()
    dialog.get_by_role("button", name="Upload and prepare").click()
    expect(dialog.get_by_role("alert")).to_be_visible(timeout=60_000)
    screenshot(page, "upload-refused")
    # Choosing another file starts a new attempt: the old refusal goes away.
    other = tmp_path / "another-try.wav"
    other.write_bytes(fake.read_bytes())
    dialog.get_by_test_id("voice-file").set_input_files(str(other))
    expect(dialog.get_by_role("alert")).to_have_count(0)
    # Choosing the same file again (the picker's "cancel") leaves the dialog open.
    dialog.get_by_test_id("voice-file").set_input_files(str(other))
    expect(dialog.get_by_role("button", name="Upload and prepare")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()

    expect(page.get_by_test_id("voice-card")).to_have_count(before)
    expect(page.get_by_test_id("voice-card").filter(has_text="Not a voice")).to_have_count(0)


def test_an_uploaded_recording_is_stored_with_the_uploaders_attestation(app, launch_browser):
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    page.get_by_role("link", name="Voices").click()
    page.get_by_role("button", name="Upload a recording").click()
    dialog = page.get_by_role("dialog", name="Upload a recording")
    dialog.get_by_test_id("voice-file").set_input_files(str(UPLOADED))
    dialog.get_by_label("Voice name").fill("Uploaded with consent")
    upload = dialog.get_by_role("button", name="Upload and prepare")
    expect(upload).to_be_disabled()  # until the uploader confirms the speaker's consent
    dialog.get_by_role("checkbox").check()
    upload.click()
    expect(page.get_by_role("heading", name="“Uploaded with consent” is ready")).to_be_visible(
        timeout=180_000
    )
    voices = page.request.get("/api/voices").json()["voices"]
    consent = next(v for v in voices if v["name"] == "Uploaded with consent")["consent"]
    assert consent["method"] == "attested" and consent["transcript"] is None, consent


@pytest.mark.skipif(
    any(Path("/dev/snd").glob("pcmC*c")) or sys.platform != "linux",
    reason="this machine has a real capture device, so 'no microphone' cannot be staged",
)
def test_missing_microphone_is_explained(app, launch_browser):
    # Permission is granted, but this machine has no capture device at all.
    browser = launch_browser(["--use-fake-ui-for-media-stream"])
    page, dialog = _press_record(browser, app)
    expect(dialog.get_by_test_id("mic-error")).to_contain_text(
        "No microphone was found", timeout=15_000
    )


@pytest.mark.parametrize(
    "viewport",
    [{"width": 1280, "height": 800}, {"width": 390, "height": 844}],
    ids=["desktop", "phone"],
)
def test_recorder_keeps_its_controls_in_view_asks_before_discarding_and_previews_seekably(
    app, launch_browser, microphone_wav, viewport
):
    browser = launch_browser(
        [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone_wav}",
        ]
    )
    context = browser.new_context(base_url=app.base_url, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    login(page, app)
    page.goto("/voices")
    page.get_by_role("button", name="Record a voice").first.click()
    dialog = page.get_by_role("dialog", name="Record a voice")
    dialog.get_by_label("Your name").fill("Someone Careful")
    dialog.get_by_role("button", name="Record").click()

    # At least N seconds recorded (a loaded machine may skip a displayed second).
    def at_least(seconds: int) -> re.Pattern[str]:
        return re.compile(rf"^(0:0[{seconds}-9]|0:[1-5]\d|[1-9]\d*:\d\d)$")

    expect(dialog.get_by_test_id("elapsed")).to_have_text(at_least(1), timeout=15_000)
    stop = dialog.get_by_role("button", name="Stop")
    expect(stop).to_be_in_viewport()

    # ✕ while recording asks; saying no keeps the take going.
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    dialog.get_by_role("button", name="Close").click()
    assert asked and "Discard this recording" in asked[0]
    expect(dialog.get_by_test_id("elapsed")).to_have_text(at_least(4), timeout=15_000)
    stop.click()

    preview = dialog.get_by_test_id("preview")
    expect(preview).to_be_visible()
    expect(dialog.get_by_role("button", name="Save voice")).to_be_in_viewport()
    expect(dialog.get_by_role("button", name="Re-record")).to_be_in_viewport()
    duration = preview.evaluate(
        "a => a.readyState >= 1 ? a.duration : new Promise(r => a.addEventListener("
        "'loadedmetadata', () => r(a.duration), {once: true}))"
    )
    take = dialog.get_by_text(re.compile(r"Your take: \d+:\d\d")).inner_text()
    minutes, seconds = re.search(r"(\d+):(\d\d)", take).groups()
    shown = int(minutes) * 60 + int(seconds)
    assert 3.5 <= duration <= shown + 1.5, f"preview {duration} s for a take shown as {take!r}"
    position = preview.evaluate(
        "a => new Promise(r => { a.addEventListener('seeked', () => r(a.currentTime), "
        "{once: true}); a.currentTime = 2; })"
    )
    assert abs(position - 2) < 0.1, f"seeking the preview to 2 s landed at {position} s"
    screenshot(page, f"recorder-review-{viewport['width']}")

    page.once("dialog", lambda d: d.accept())
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
