"""Export in the reader: a pasted book exported as SRT subtitles from the sidebar, downloaded
through the browser, then deleted; an export in another voice and speed than the reader's, the
panel on a desktop and a phone; and the note that sends the reader to misread sentences."""

from __future__ import annotations

import io
import re
import secrets
import time
import zipfile

from conftest import SHARED_DATA, chapter_buttons, login, new_page, screenshot
from playwright.sync_api import Page, expect

STOCK_VOICE = "stock-joe"
MY_VOICE = "custom_user_voice"  # the reader's "Use My Voice"
VOICE_RECORDING = SHARED_DATA / "speech" / "ljspeech" / "LJ001-0001.wav"
PHONE = {"width": 390, "height": 844}
# Japanese, which the English stock voice cannot say and the English recognizer cannot hear:
# every take fails verification, so the sentence is reported as misread.
UNSAYABLE = "日本語の文章をここに書きます。"


def paste_book(page: Page, title: str, text: str) -> str:
    """Adds a pasted book from the library and opens it in the reader; its id."""
    page.get_by_role("button", name="Add a book").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Paste text").click()
    dialog.get_by_label("Title").fill(title)
    dialog.get_by_label("Text").fill(text)
    dialog.get_by_role("button", name="Add book").click()
    page.wait_for_url(re.compile(r"/reader/[^/]+$"), timeout=60_000)
    return page.url.rsplit("/", 1)[1]


def new_user_page(app, browser, viewport: dict | None = None) -> Page:
    """A fresh user of their own, signed in (their voices and settings touch no other test)."""
    admin = new_page(browser, app.base_url)
    login(admin, app)
    username, password = f"exporter-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    made = admin.request.post("/api/users", data={"username": username, "password": password})
    assert made.status == 201, made.text()
    admin.context.close()
    page = new_page(browser, app.base_url)
    if viewport:
        page.set_viewport_size(viewport)
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").wait_for()
    return page


def upload_voice(page: Page, name: str) -> str:
    """One voice of the user's own, from a recording (attested consent), once ready; its id."""
    made = page.request.post(
        "/api/voice/upload",
        multipart={
            "audio": {
                "name": VOICE_RECORDING.name,
                "mimeType": "audio/wav",
                "buffer": VOICE_RECORDING.read_bytes(),
            },
            "name": name,
            "consent": "attested",
        },
    )
    assert made.status == 201, made.text()
    deadline = time.monotonic() + 300  # bounds a failing test only
    while time.monotonic() < deadline:
        voices = page.request.get("/api/voices").json()["voices"]
        voice = next(v for v in voices if v["name"] == name)
        if voice["status"] != "processing":
            assert voice["status"] == "ready", voice
            return str(voice["id"])
        page.wait_for_timeout(500)
    raise AssertionError(f"the voice {name} was not ready in 300 s")


def panel_fits(page: Page, panel) -> None:
    """No control of the Export panel is cut off: each select has room for its chosen option's
    text (measured in the select's own font, besides its padding and arrow) and every control
    stays inside the panel."""
    clipped = panel.evaluate(
        """(panel) => {
            const box = panel.getBoundingClientRect();
            const ARROW = 20;  // Chromium's drop-down arrow, px
            const textWidth = (select) => {
                const probe = document.createElement("span");
                probe.style.cssText = "position:absolute;visibility:hidden;white-space:pre";
                probe.style.font = getComputedStyle(select).font;
                probe.textContent = select.options[select.selectedIndex]?.text ?? "";
                document.body.append(probe);
                const width = probe.getBoundingClientRect().width;
                probe.remove();
                return width;
            };
            return [...panel.querySelectorAll("select, button, label")]
                .filter((el) => el.offsetParent !== null)
                .filter((el) => {
                    const r = el.getBoundingClientRect();
                    let cut = false;
                    if (el.tagName === "SELECT") {
                        const style = getComputedStyle(el);
                        const room = el.clientWidth - parseFloat(style.paddingLeft)
                            - parseFloat(style.paddingRight) - ARROW;
                        cut = textWidth(el) > room;
                    }
                    return cut || r.left < box.left - 1 || r.right > box.right + 1;
                })
                .map((el) => el.outerHTML.slice(0, 80));
        }"""
    )
    assert clipped == [], clipped


def test_export_subtitles_download_and_delete(app, launch_browser):
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    page.get_by_role("button", name="Add a book").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Paste text").click()
    dialog.get_by_label("Title").fill("Export me")
    dialog.get_by_label("Text").fill(
        "The kettle sang on the stove. A robin watched from the fence."
    )
    dialog.get_by_role("button", name="Add book").click()
    page.wait_for_url(re.compile(r"/reader/[^/]+$"), timeout=60_000)
    page.locator("#voice-picker").select_option(STOCK_VOICE)

    panel = page.get_by_role("region", name="Export")
    panel.get_by_label("Format").select_option("srt")
    panel.get_by_role("button", name="Export", exact=True).click()
    row = panel.get_by_test_id("export-job")
    expect(row).to_have_attribute("data-status", "done", timeout=120_000)
    screenshot(page, "export-done")

    with page.expect_download() as started:
        row.get_by_role("link", name=re.compile(r"^Download")).click()
    download = started.value
    assert download.suggested_filename == "Export me (SRT).zip"
    with zipfile.ZipFile(io.BytesIO(open(download.path(), "rb").read())) as archive:
        (name,) = archive.namelist()
        cues = archive.read(name).decode()
    assert "The kettle sang on the stove." in cues and "A robin watched from the fence." in cues
    assert cues.count("-->") == 2

    row.get_by_role("button", name="Delete").click()
    expect(panel.get_by_test_id("export-job")).to_have_count(0)


def test_export_reads_in_the_voice_and_speed_chosen_in_the_panel(app, launch_browser):
    """The panel starts at the reader's voice and speed; another voice and speed chosen there
    is what the export reads in. The panel fits a desktop's sidebar and a phone's drawer."""
    browser = launch_browser()
    page = new_user_page(app, browser)
    own = upload_voice(page, "Narrator")
    book_id = paste_book(page, "Voice choice", "The lamp was lit. The door stayed shut.")
    page.locator("#voice-picker").select_option(MY_VOICE)

    panel = page.get_by_role("region", name="Export")
    voice = panel.get_by_label("Voice")
    expect(voice).to_have_value(own)  # "Use My Voice": the user's default voice
    expect(panel.get_by_label("Speed")).to_have_value("1")
    expect(voice.locator("option")).to_have_text(["Narrator (default)", "Joe (US English)"])
    panel.get_by_label("Format").select_option("epub")  # the longest format name
    panel_fits(page, panel)
    screenshot(page, "export-panel-1360")

    voice.select_option(STOCK_VOICE)
    panel.get_by_label("Speed").select_option("1.25")
    panel.get_by_label("Format").select_option("vtt")
    panel.get_by_role("button", name="Export", exact=True).click()
    row = panel.get_by_test_id("export-job")
    expect(row).to_have_attribute("data-status", "done", timeout=180_000)
    (job,) = page.request.get(f"/api/books/{book_id}/exports").json()
    assert (job["voice_id"], job["speed"], job["format"]) == (STOCK_VOICE, 1.25, "vtt"), job

    page.set_viewport_size(PHONE)
    chapter_buttons(page)  # on a phone the panel is in the Chapters drawer
    panel.get_by_label("Format").select_option("epub")
    panel.scroll_into_view_if_needed()
    panel_fits(page, panel)
    screenshot(page, "export-panel-390")


def test_the_panel_sends_the_reader_to_misread_sentences(app, launch_browser):
    """A sentence that failed verification in every take (exported once, so rendered through
    the verified path) is named in the panel, with a link that opens its chapter with the
    misread sentences listed."""
    page = new_user_page(app, launch_browser())
    paste_book(page, "Misread", f"The tea was hot. {UNSAYABLE}")
    page.locator("#voice-picker").select_option(STOCK_VOICE)
    panel = page.get_by_role("region", name="Export")
    expect(panel.get_by_test_id("export-quality-note")).to_have_count(0)
    panel.get_by_label("Format").select_option("srt")
    panel.get_by_role("button", name="Export", exact=True).click()
    row = panel.get_by_test_id("export-job")
    expect(row).to_have_attribute("data-status", "done", timeout=240_000)

    note = panel.get_by_test_id("export-quality-note")  # the report is read again at the end
    expect(note).to_contain_text("1 sentence may be misread in this voice")
    note.scroll_into_view_if_needed()
    screenshot(page, "export-quality-note")
    note.get_by_role("button", name=re.compile(r"\(1\)$")).click()
    notice = page.get_by_test_id("quality-notice")
    expect(notice).to_have_attribute("open", "")
    expect(notice).to_contain_text(UNSAYABLE)
    expect(notice).not_to_contain_text("The tea was hot.")
    screenshot(page, "export-quality-note-opened")
