"""Issue 10, item 5: a page on another port of the same host cannot act as the signed-in user.

The session cookie is SameSite=Lax, and a page on another port is the same *site*, so the
browser sends the cookie along with its forged requests: only the app's Origin check stops
them. The attacker page here sends what a form can (multipart, no preflight, cookies
included) to create a book and a voice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import free_port, login, new_page
from playwright.sync_api import expect

ATTACK = """<!doctype html><title>attack</title><script>
const app = "{app}";
async function forge(path, field, name, type) {{
  const form = new FormData();
  form.append("name", "Forged");
  form.append("language", "en");
  form.append(field, new Blob(["Nobody asked for this. " .repeat(20)], {{type}}), name);
  await fetch(app + path, {{method: "POST", body: form, mode: "no-cors", credentials: "include"}});
}}
Promise.all([
  forge("/api/books", "file", "forged.txt", "text/plain"),
  forge("/api/voice/upload", "audio", "forged.wav", "audio/wav"),
]).then(() => {{ document.title = "sent"; }});
</script>"""


@pytest.fixture
def attacker_page_url(app) -> Iterator[str]:
    """A page served from another port of the same host (what any local program could do)."""
    page = ATTACK.format(app=app.base_url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/attack.html"
    server.shutdown()
    server.server_close()


def test_a_page_on_another_port_cannot_create_a_book_or_a_voice(
    app, launch_browser, attacker_page_url
):
    page = new_page(launch_browser(), app.base_url)
    login(page, app)
    page.goto(attacker_page_url)
    expect(page).to_have_title("sent")  # both forged requests went out and came back
    page.goto("/library")
    books = page.evaluate("fetch('/api/books').then(r => r.json())")
    voices = page.evaluate("fetch('/api/voices').then(r => r.json())")
    assert [b["title"] for b in books if "forged" in b["title"].lower()] == []
    assert [v["name"] for v in voices["voices"] if v["name"] == "Forged"] == []
