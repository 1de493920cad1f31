"""What keeps a logged-in browser safe, over HTTP on the real app: security headers, the
Origin check on writes, Secure cookies over HTTPS (direct, via a trusted proxy, or as
OWNVOICE_PUBLIC_URL says), health details only for signed-in callers, equal-time logins."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from audio_files import CLEAN_WAV
from conftest import create_user, login
from servers import ADMIN_PASSWORD, AppServer, free_port, start_app

BOOK = {"title": "Forged", "text": "Nobody asked for this book.", "language": "en"}


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """An app server behind a (pretend) reverse proxy on 127.0.0.1, which it trusts."""
    server = start_app(
        tmp_path_factory.mktemp("proxied") / "data", OWNVOICE_TRUSTED_PROXIES="127.0.0.1"
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def public_https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    server = start_app(
        tmp_path_factory.mktemp("public") / "data",
        OWNVOICE_PUBLIC_URL="https://books.example.org",
    )
    yield server
    server.stop()


def login_response(server: AppServer, **headers: str) -> httpx.Response:
    with server.client(headers=headers) as client:
        response = client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
    assert response.status_code == 200, response.text
    return response


# --- security headers -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/health", "/", "/library", "/api/nothing", "/api/auth/me"])
def test_every_response_carries_the_security_headers(app_server: AppServer, path: str) -> None:
    response = httpx.get(app_server.url + path)
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe" not in csp


def test_a_refused_request_carries_them_too(app_server: AppServer) -> None:
    with login(app_server) as client:
        refused = client.post("/api/books", json=BOOK, headers={"Origin": "http://evil.test"})
    assert refused.status_code == 403
    assert refused.headers["x-frame-options"] == "DENY"


# --- Origin check -----------------------------------------------------------------------


def book_titles(client: httpx.Client) -> list[str]:
    return [b["title"] for b in client.get("/api/books").json()]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:{other}"},  # another port on the same host
        {"Origin": "http://evil.test"},
        {"Origin": "null"},  # a sandboxed frame or a privacy-stripped form
        {"Referer": "http://127.0.0.1:{other}/attack.html"},  # Referer when Origin is absent
    ],
)
def test_a_write_from_another_origin_is_refused_and_changes_nothing(
    app_server: AppServer, headers: dict[str, str]
) -> None:
    other = free_port()
    forged = {k: v.format(other=other) for k, v in headers.items()}
    with create_user(app_server, f"victim-{len(forged)}-{other}") as victim:
        book = victim.post("/api/books", json=BOOK, headers=forged)
        assert book.status_code == 403
        assert "another site" in book.json()["detail"]
        voice = victim.post(
            "/api/voice/upload",
            data={"name": "Forged", "language": "en", "consent": "attested"},
            files={"audio": ("x.wav", CLEAN_WAV.read_bytes(), "audio/wav")},
            headers=forged,
        )
        assert voice.status_code == 403
        assert victim.delete("/api/keys/anything", headers=forged).status_code == 403
        assert book_titles(victim) == []
        assert victim.get("/api/voices").json()["voices"] == []


def test_writes_from_the_apps_own_origin_and_from_programs_pass(app_server: AppServer) -> None:
    with create_user(app_server, "own-origin") as user:
        own = user.post("/api/books", json=BOOK, headers={"Origin": app_server.url})
        assert own.status_code == 201, own.text
        # Programs send no Origin at all; API keys are never sent by a forged form.
        assert user.post("/api/books", json=BOOK).status_code == 201
        key = user.post("/api/keys", json={"name": "script"}).json()["key"]
    with app_server.client(
        headers={"Authorization": f"Bearer {key}", "Origin": "http://elsewhere.test"}
    ) as program:
        assert program.post("/api/books", json=BOOK).status_code == 201
        assert len(book_titles(program)) == 3


def test_the_public_url_is_an_allowed_origin(public_https: AppServer) -> None:
    with login(public_https) as client:
        ok = client.post("/api/books", json=BOOK, headers={"Origin": "https://books.example.org"})
        assert ok.status_code == 201, ok.text
        other_scheme = client.post(
            "/api/books", json=BOOK, headers={"Origin": "http://books.example.org"}
        )
        assert other_scheme.status_code == 403


def test_elevenlabs_routes_refuse_in_their_own_error_shape(app_server: AppServer) -> None:
    with login(app_server) as client:
        response = client.post(
            "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM",
            json={"text": "hi"},
            headers={"Origin": "http://evil.test"},
        )
    assert response.status_code == 403
    assert response.json()["detail"]["status"] == "cross_origin"


# --- Secure cookies and the trusted proxy -----------------------------------------------


def test_plain_http_cookies_are_not_secure_and_forwarded_headers_are_ignored(
    app_server: AppServer,
) -> None:
    assert "secure" not in login_response(app_server).headers["set-cookie"].lower()
    forged = login_response(app_server, **{"X-Forwarded-Proto": "https"})
    assert "secure" not in forged.headers["set-cookie"].lower()


def test_https_through_a_trusted_proxy_gets_a_secure_cookie(proxied: AppServer) -> None:
    assert "secure" not in login_response(proxied).headers["set-cookie"].lower()
    https = login_response(proxied, **{"X-Forwarded-Proto": "https"})
    assert "; secure" in https.headers["set-cookie"].lower()


def test_an_https_public_url_means_secure_cookies(public_https: AppServer) -> None:
    assert "; secure" in login_response(public_https).headers["set-cookie"].lower()


def test_behind_a_trusted_proxy_the_limit_is_per_real_client_address(proxied: AppServer) -> None:
    def attempt(address: str, password: str) -> int:
        with proxied.client(headers={"X-Forwarded-For": address}) as client:
            body = {"username": "admin", "password": password}
            return client.post("/api/auth/login", json=body).status_code

    for _ in range(5):
        assert attempt("203.0.113.66", "a-guess") == 401
    assert attempt("203.0.113.66", ADMIN_PASSWORD) == 429
    # The real user, at another address behind the same proxy, is not locked out.
    assert attempt("198.51.100.7", ADMIN_PASSWORD) == 200


# --- health -----------------------------------------------------------------------------


def test_health_tells_anonymous_callers_only_that_the_app_is_up(app_server: AppServer) -> None:
    anonymous = httpx.get(app_server.url + "/api/health")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    with app_server.admin() as admin:
        detailed = admin.get("/api/health").json()
    assert detailed["inference"]["ready"] is False
    with login(app_server) as browser:
        assert "inference" in browser.get("/api/health").json()


# --- equal-time logins ------------------------------------------------------------------


def test_unknown_usernames_take_as_long_as_known_ones(app_server: AppServer) -> None:
    """Interleaved, median of several: an unknown name costs an argon2 verification too
    (today's hash takes tens of milliseconds; a bare database miss takes well under one)."""
    create_user(app_server, "timed-user", "timed-password").close()

    def timed(username: str, password: str, expected: int) -> float:
        with app_server.client() as client:
            start = time.perf_counter()
            response = client.post(
                "/api/auth/login", json={"username": username, "password": password}
            )
            elapsed = time.perf_counter() - start
        assert response.status_code == expected
        return elapsed

    known, unknown = [], []
    for n in range(5):
        known.append(timed("timed-user", "timed-password", 200))
        unknown.append(timed(f"no-such-user-{n}", "timed-password", 401))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert ratio > 0.4, (known, unknown)


# --- where the app listens --------------------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """Local addresses (kernel hex, e.g. 0100007F = 127.0.0.1) listening on TCP `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_by_default_the_app_listens_on_loopback_and_says_how_to_expose_it(
    tmp_path: Path,
) -> None:
    server = start_app(tmp_path / "data", OWNVOICE_HOST="")  # "": not set at all
    try:
        assert listening_addresses(server.port) == {"0100007F"}
        log = server.process.log()
        assert "reachable from this machine only" in log
        assert "OWNVOICE_HOST=0.0.0.0" in log and "HTTPS" in log
    finally:
        server.stop()


def test_exposed_over_plain_http_it_warns(tmp_path: Path) -> None:
    server = start_app(tmp_path / "data", OWNVOICE_HOST="0.0.0.0")
    try:
        assert listening_addresses(server.port) == {"00000000"}
        assert "WARNING: listening on 0.0.0.0" in server.process.log()
        assert "OWNVOICE_PUBLIC_URL=https://" in server.process.log()
    finally:
        server.stop()
