"""Request bodies are capped as they arrive, before authentication (app/api/body_limit.py),
multipart fields are capped, and validation errors never echo the input: against the real app
server over real sockets, so that Content-Length, chunked bodies and early answers are real."""

from __future__ import annotations

import json
import select
import uuid
from collections.abc import Iterator

import httpx
import pytest
from audio_files import CLEAN_WAV
from conftest import create_user
from raw_http import (
    MB,
    READ_TIMEOUT,
    Pusher,
    RawResponse,
    chunk,
    connect,
    head,
    peak_rss,
    read_response,
)
from servers import ADMIN_API_KEY, AppServer, start_app

ADMIN = {"Authorization": f"Bearer {ADMIN_API_KEY}"}
JSON = {"Content-Type": "application/json"}
CHUNKED = {"Transfer-Encoding": "chunked"}
BOUNDARY = "ownvoiceboundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """Default caps: 64 KB without credentials, 1 MB JSON, 25 MB (+1 MB) voice uploads."""
    app = start_app(tmp_path_factory.mktemp("bodies") / "data")
    yield app
    app.stop()


@pytest.fixture(scope="module")
def session_cookie(server: AppServer) -> str:
    with create_user(server, f"bodies-{uuid.uuid4().hex[:6]}") as client:
        return client.cookies["ownvoice_session"]


def declared_only(
    server: AppServer, path: str, headers: dict[str, str], length: int
) -> RawResponse:
    """Announce a body of `length` bytes, send none of it, and read the answer."""
    sock = connect(server)
    try:
        sock.sendall(head("POST", path, {**headers, "Content-Length": str(length)}))
        return read_response(sock)
    finally:
        sock.close()


# --- Content-Length over the cap: refused before a byte of the body is sent ---------------


@pytest.mark.parametrize(
    ("path", "headers", "length", "says"),
    [
        ("/api/auth/login", JSON, 300 * MB, "without credentials"),
        # An anonymous 25 MB upload gets the smallest cap, not the upload route's.
        ("/api/voice/upload", MULTIPART, 25 * MB, "without credentials"),
        ("/api/tts", {**ADMIN, **JSON}, 2 * MB, "larger than 1 MB, the most this route"),
        ("/api/voice/upload", {**ADMIN, **MULTIPART}, 27 * MB, "larger than 25 MB: send a"),
    ],
)
def test_a_declared_oversize_body_is_refused_before_it_is_sent(
    server: AppServer, path: str, headers: dict[str, str], length: int, says: str
) -> None:
    response = declared_only(server, path, headers, length)
    assert response.status == 413, response
    assert says in response.json()["detail"]
    assert response.closed  # the body is not kept: the connection ends after the answer


def test_a_body_a_little_over_the_cap_is_answered_at_once_then_read_to_its_end(
    server: AppServer,
) -> None:
    """27 MB declared, over the upload's 26 MB cap and under twice it: the 413 comes before a
    byte of the body, and the server then reads the body to its end before it closes, so a
    client that sends it all before reading gets the answer, not a reset (closing at once made
    one upload in about forty through httpx fail that way)."""
    length = 27 * MB
    sock = connect(server)
    try:
        sock.sendall(
            head("POST", "/api/voice/upload", {**ADMIN, **MULTIPART, "Content-Length": str(length)})
        )
        assert select.select([sock], [], [], READ_TIMEOUT)[0]  # answered before the body
        sock.sendall(bytes(length))  # would fail with a reset had the server closed
        response = read_response(sock)
    finally:
        sock.close()
    assert response.status == 413, response
    assert "larger than 25 MB" in response.json()["detail"]
    assert response.closed


def test_each_api_surface_gets_its_own_413_shape(server: AppServer) -> None:
    elevenlabs = declared_only(
        server, "/v1/text-to-speech/someVoice", {"xi-api-key": "k", **JSON}, 2 * MB
    )
    assert elevenlabs.status == 413
    assert elevenlabs.json()["detail"]["status"] == "too_large"
    assert "1 MB" in elevenlabs.json()["detail"]["message"]

    openai = declared_only(server, "/v1/audio/speech", {**ADMIN, **JSON}, 2 * MB)
    assert openai.status == 413
    error = openai.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "too_large"
    assert "1 MB" in error["message"]


def test_a_route_class_with_a_larger_cap_reads_a_body_the_json_cap_refuses(
    server: AppServer,
) -> None:
    """2 MB is over the JSON cap, and within the voice upload cap: the upload is read and
    stored, and only then fails because this server's inference service is down (503)."""
    recording = CLEAN_WAV.read_bytes()
    padded = recording + bytes(2 * MB)
    with server.admin() as admin:
        upload = admin.post(
            "/api/voice/upload",
            data={"name": "Big", "language": "en", "consent": "attested"},
            files={"audio": ("big.wav", padded, "audio/wav")},
        )
        assert upload.status_code == 503, upload.text
        assert "inference service" in upload.json()["detail"]
        text = admin.post("/api/tts", json={"text": "x" * (2 * MB), "voiceId": "stock-a"})
        assert text.status_code == 413


# --- chunked bodies: counted as they arrive, and the rest is not read past a bound ----------


def endless(piece: bytes, total: int) -> Iterator[bytes]:
    block = chunk(piece)
    for _ in range(total // len(block)):
        yield block


@pytest.mark.parametrize(
    ("path", "headers", "status", "says"),
    [
        ("/api/auth/login", JSON, 413, "without credentials"),
        ("/api/tts", {**ADMIN, **JSON}, 413, "the most this route accepts"),
        # Upload routes authenticate before they read: an anonymous or forged upload is
        # answered 401 at once, and its body is read (and dropped) only up to a bound.
        ("/api/voice/upload", MULTIPART, 401, "Not signed in"),
        ("/api/voice/upload", {"Cookie": "ownvoice_session=forged", **MULTIPART}, 401, "Not"),
    ],
)
def test_a_chunked_300_mb_body_is_refused_as_it_arrives_and_not_read_further(
    server: AppServer, path: str, headers: dict[str, str], status: int, says: str
) -> None:
    before = peak_rss(server)
    sock = connect(server)
    try:
        sock.sendall(head("POST", path, {**headers, **CHUNKED}))
        pusher = Pusher(sock, endless(b"[" + b"1," * (MB // 2), 300 * MB))
        response = read_response(sock)
        pusher.join()
    finally:
        sock.close()
    assert response.status == status, response
    assert says in json.dumps(response.json())
    assert response.closed
    # Far from 300 MB: the cap, what is dropped after the answer (LINGER_BYTES, or the
    # upload cap with credentials), and what the kernel's socket buffers held.
    assert pusher.sent < 64 * MB, pusher.sent
    assert peak_rss(server) - before < 40 * MB


# --- multipart: text fields are capped in size and number ----------------------------------


def field(name: str, value: bytes, extra_headers: str = "") -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n{extra_headers}\r\n'
        ).encode()
        + value
        + b"\r\n"
    )


def upload(server: AppServer, body: bytes) -> httpx.Response:
    with server.admin() as admin:
        return admin.post("/api/voice/upload", content=body, headers=MULTIPART)


def test_a_seventeenth_text_field_is_refused(server: AppServer) -> None:
    body = b"".join(field(f"f{n}", b"v") for n in range(17)) + f"--{BOUNDARY}--\r\n".encode()
    response = upload(server, body)
    assert response.status_code == 400
    assert response.json()["detail"] == "Too many form fields: send at most 16 with the file."


def test_a_part_with_overlong_headers_is_refused(server: AppServer) -> None:
    body = field("name", b"v", f"X-Padding: {'a' * 9000}\r\n") + f"--{BOUNDARY}--\r\n".encode()
    response = upload(server, body)
    assert response.status_code == 400
    # python-multipart's own limit (8 headers of about 4 KB per part) does this.
    assert "Maximum header size exceeded" in response.json()["detail"]


def test_thousands_of_large_fields_in_a_chunked_upload_are_refused_early(
    server: AppServer,
) -> None:
    """Each field is under the 64 KB field cap; together they would be 300 MB."""
    fields = (chunk(field(f"f{n}", b"x" * 60_000)) for n in range(5000))
    sock = connect(server)
    try:
        sock.sendall(head("POST", "/api/voice/upload", {**ADMIN, **MULTIPART, **CHUNKED}))
        pusher = Pusher(sock, fields)
        response = read_response(sock)
        pusher.join()
    finally:
        sock.close()
    assert response.status == 400, response
    assert "Too many form fields" in response.json()["detail"]
    assert response.closed and pusher.sent < 64 * MB, pusher.sent


# --- validation errors: where and what, never the input -----------------------------------


def test_validation_errors_do_not_echo_the_input(server: AppServer, session_cookie: str) -> None:
    secret = "p" * 60_000  # a password, or a whole book: never sent back
    with server.client() as anonymous:
        login = anonymous.post("/api/auth/login", json={"username": "u", "password": secret})
    assert login.status_code == 422
    assert login.json()["detail"] == [
        {
            "type": "string_too_long",
            "loc": ["body", "password"],
            "msg": "String should have at most 1024 characters",
        }
    ]

    text = "t" * 900_000
    with server.client(cookies={"ownvoice_session": session_cookie}) as client:
        tts = client.post("/api/tts", json={"text": text, "voiceId": "stock-a", "format": "x"})
        book = client.post("/api/books", json={"title": text, "text": "Hi.", "language": "en"})
    with server.admin() as admin:
        openai = admin.post("/v1/audio/speech", json={"model": "m", "voice": "v", "input": text})
    for response, status in ((tts, 422), (book, 422), (openai, 400)):
        assert response.status_code == status, response.text
        assert len(response.content) < 2000 and "ttttt" not in response.text
    assert {e["loc"][-1] for e in tts.json()["detail"]} == {"text", "format"}
    assert "input" in openai.json()["error"]["message"]


# --- early answers: the client reads them, not a connection reset ---------------------------


def test_an_answer_before_the_body_is_read_reaches_a_client_still_sending_it(
    server: AppServer,
) -> None:
    """The upload route refuses a body that is not multipart (415) before reading any of it.
    20 MB is under the upload cap, and more than the sockets' buffers hold: the server reads and
    drops the rest before it closes, so the client sends it all and then reads the 415. (Closed
    with the body unread, the connection is reset, and the send fails.)"""
    body = bytes(20 * MB)
    sock = connect(server)
    try:
        headers = {**ADMIN, "Content-Type": "application/octet-stream"}
        sock.sendall(
            head("POST", "/api/voice/upload", {**headers, "Content-Length": str(len(body))})
        )
        sock.sendall(body)
        response = read_response(sock)
    finally:
        sock.close()
    assert response.status == 415, response
    assert response.closed
