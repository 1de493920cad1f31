"""Fixtures for the browser tests: the whole app, started from scratch, and Debian Chromium.

The app is started the way users start it (scripts/start.py) on a fresh data
directory and free ports, with the tiny demo model; the tests drive the real
UI in Debian's Chromium through Playwright (its own browser download cannot
work on these machines).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
FRONTEND = REPO / "frontend"
CHROMIUM = os.environ.get("OWNVOICE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
READY_TIMEOUT_S = 300
ADMIN_USER = "admin"
SCREENSHOTS = Path(os.environ.get("OWNVOICE_E2E_SCREENSHOTS", "/tmp/ownvoice-e2e"))
# The admin's API key in the apps the tests start: /api/health tells only signed-in callers
# whether the inference service is ready.
E2E_API_KEY = "ov_e2e_" + secrets.token_urlsafe(24)
CSP_VIOLATIONS: list[str] = []  # console messages of every page, cleared per test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


def ensure_frontend_built() -> None:
    """The app server serves frontend/dist; rebuild it when the sources are newer."""
    index = FRONTEND / "dist" / "index.html"
    sources_newer = _newest_mtime(FRONTEND / "src") > (
        index.stat().st_mtime if index.exists() else 0
    )
    if not sources_newer:
        return
    npm = shutil.which("npm")
    if npm is None or not (FRONTEND / "node_modules").exists():
        pytest.fail("frontend/dist is missing or stale: run `npm ci && npm run build` in frontend/")
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True, stdout=subprocess.DEVNULL)


def _health(base_url: str) -> dict | None:
    request = urllib.request.Request(
        f"{base_url}/api/health", headers={"Authorization": f"Bearer {E2E_API_KEY}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)
    except OSError:
        return None


class RunningApp:
    def __init__(self, base_url: str, password: str, data_dir: Path, log_path: Path) -> None:
        self.base_url = base_url
        self.username = ADMIN_USER
        self.password = password
        self.data_dir = data_dir
        self.log_path = log_path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    ensure_frontend_built()
    if os.environ.get("OWNVOICE_E2E_BASE_URL"):
        # Developer shortcut: reuse an app that is already running.
        yield RunningApp(
            os.environ["OWNVOICE_E2E_BASE_URL"],
            os.environ.get("OWNVOICE_E2E_PASSWORD", ""),
            Path(os.environ.get("OWNVOICE_E2E_DATA_DIR", "data")),
            Path("/dev/null"),
        )
        return
    root = tmp_path_factory.mktemp("ownvoice-e2e")
    data_dir = root / "data"
    log_path = root / "app.log"
    app_port, inference_port = free_port(), free_port()
    password = secrets.token_urlsafe(12)
    env = {
        **os.environ,
        "OWNVOICE_DEMO_MODEL": "tiny",
        "OWNVOICE_ADMIN_PASSWORD": password,
        "COQUI_TOS_AGREED": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    env["OWNVOICE_ADMIN_API_KEY"] = E2E_API_KEY
    command = [
        sys.executable if Path(sys.executable).name.startswith("python3") else "python3",
        str(REPO / "scripts" / "start.py"),
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--app-port",
        str(app_port),
        "--inference-port",
        str(inference_port),
        "--skip-install",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = RunningApp(f"http://127.0.0.1:{app_port}", password, data_dir, log_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            health = _health(running.base_url)
            if health and health.get("inference", {}).get("ready"):
                break
            if process.poll() is not None:
                pytest.fail(
                    f"scripts/start.py exited with {process.returncode}:\n{running.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the app was not ready after {READY_TIMEOUT_S} s:\n{running.log_tail()}"
                )
            time.sleep(1)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as driver:
        yield driver


LaunchBrowser = Callable[..., Browser]


@pytest.fixture
def launch_browser(playwright_driver: Playwright) -> Iterator[LaunchBrowser]:
    """Launches Debian Chromium with the project's flags plus any extra ones."""
    browsers: list[Browser] = []

    def launch(extra_args: list[str] | None = None) -> Browser:
        browser = playwright_driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + (extra_args or [])
        )
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()


def new_page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(base_url=base_url, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("console", _note_csp_violation)
    return page


def _note_csp_violation(message: ConsoleMessage) -> None:
    if "Content Security Policy" in message.text:
        CSP_VIOLATIONS.append(message.text)


@pytest.fixture(autouse=True)
def no_csp_violations() -> Iterator[None]:
    """Every page of every test keeps to the app's Content-Security-Policy."""
    CSP_VIOLATIONS.clear()
    yield
    assert CSP_VIOLATIONS == [], "the web app broke its Content-Security-Policy"


def login(page: Page, app: RunningApp) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(app.username)
    page.get_by_label("Password").fill(app.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").wait_for()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


# --- the reader on a phone --------------------------------------------------------------------
# Up to this width (COMPACT_LAYOUT in frontend/src/lib/use-media-query.ts) the reader keeps its
# chapters in a drawer and the player's voice, speed and sleep timer in a sheet.
COMPACT_MAX_WIDTH = 860


def is_compact(page: Page) -> bool:
    return (page.viewport_size or {}).get("width", 0) <= COMPACT_MAX_WIDTH


def player_settings(page: Page) -> Locator:
    """Where the player's voice, speed and sleep timer are: on a phone, the sheet (opened)."""
    if not is_compact(page):
        return page.get_by_role("region", name="Player")
    page.get_by_role("button", name="Voice, speed and sleep timer").click()
    sheet = page.get_by_role("dialog", name="Player settings")
    expect(sheet).to_be_visible()
    return sheet


def close_player_settings(page: Page) -> None:
    """Closes the sheet player_settings() opened on a phone (nothing to do on a desktop)."""
    if is_compact(page):
        sheet = page.get_by_role("dialog", name="Player settings")
        sheet.get_by_role("button", name="Close").click()
        expect(sheet).to_have_count(0)


def choose_voice(page: Page, voice_id: str) -> None:
    player_settings(page).locator("#voice-picker").select_option(voice_id)
    close_player_settings(page)


def chapter_buttons(page: Page) -> Locator:
    """The reader's chapter list; on a phone, opens the Chapters drawer first."""
    if is_compact(page):
        page.get_by_role("button", name="Chapters", exact=True).click()
        expect(page.get_by_role("dialog", name="Chapters")).to_be_visible()
    return page.get_by_role("navigation", name="Chapters").get_by_role("button")


ALICE = SHARED_DATA / "books" / "alice.epub"


def add_alice(page: Page) -> str:
    """Adds the sample book (Alice) through the API as the signed-in user; returns its id."""
    added = page.request.post(
        "/api/books",
        multipart={
            "file": {
                "name": "alice.epub",
                "mimeType": "application/epub+zip",
                "buffer": ALICE.read_bytes(),
            }
        },
    )
    assert added.status == 201, added.text()
    return str(added.json()["id"])


def open_alice(page: Page) -> str:
    """Adds Alice and opens it in the reader at its first sentence; returns the book's id."""
    book_id = add_alice(page)
    page.goto(f"/reader/{book_id}")
    expect(page.locator(".reader-text .sentence").first).to_contain_text("Alice was beginning")
    return book_id
