"""Export in the reader: a pasted book exported as SRT subtitles from the sidebar, downloaded
through the browser, then deleted."""

from __future__ import annotations

import io
import re
import zipfile

from conftest import login, new_page, screenshot
from playwright.sync_api import expect

STOCK_VOICE = "stock-joe"


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
