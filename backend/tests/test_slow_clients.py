"""Slow clients cannot starve others: a streamed response or a stalled upload holds no
database connection, one user's open streams and queued render jobs are capped, and a render
job's duplicate check sees through a speed a hair away. The real app server over real sockets.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import create_user
from raw_http import MB, connect, head, read_head
from servers import AppServer, closed_port_url, start_app

from app.services.audio_cache import AudioCache
from app.services.speech import SpeechRequest, VoiceTarget, speech_cache_key
from app.services.voices import voices_dir

STREAMS_PER_USER = 4  # the default OWNVOICE_MAX_STREAMS_PER_USER
RENDER_JOBS_PER_USER = 2
# An ElevenLabs voice: resolving it reads the database (is it one of the user's own voices?),
# so a route that kept its session through the stream would hold a connection. Its audio is
# in the cache already; this server's ElevenLabs is never reached.
CACHED_VOICE = "cachedVoice000000000"
CACHED = {"text": "A long chapter, read before.", "voiceId": CACHED_VOICE, "format": "pcm_24000"}
CACHED_BYTES = 16 * MB  # far more than the socket buffers between a reader and the server
QUICK = 5.0  # seconds: what "answers quickly" means here, with slack for a busy machine


class StalledInference:
    """An inference service whose worker never finishes: quick calls get 503 at once and a
    generation is never answered, so render jobs stay queued or running while a test looks."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                conn.close()
                return
            data += piece
        request_head, body = data.split(b"\r\n\r\n", 1)
        if request_head.split(b" ")[1].startswith(b"/generate"):
            self._held.append(conn)  # never answered
            return
        length = next(
            (
                int(line.split(b":")[1])
                for line in request_head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length and (piece := conn.recv(65536)):
            body += piece
        detail = json.dumps({"detail": {"code": "busy", "message": "busy"}}).encode()
        conn.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(detail)}\r\nConnection: close\r\n\r\n".encode()
            + detail
        )
        conn.close()

    def stop(self) -> None:
        self._listener.close()
        for conn in self._held:
            conn.close()


def fill_cache(data_dir: Path, user_id: str) -> None:
    """Put CACHED_BYTES of audio for CACHED in the user's cache, as POST /api/tts would have
    (a shared voice's audio is cached per user)."""
    cache = AudioCache(data_dir / "audio_cache")
    request = SpeechRequest(text=CACHED["text"], native_format=CACHED["format"])
    target = VoiceTarget("elevenlabs", CACHED_VOICE, cache_scope=user_id)
    key = speech_cache_key(target, request, None)
    writer = cache.writer(key, "audio/L16;rate=24000")
    for _ in range(CACHED_BYTES // MB):
        writer.write(bytes(MB))
    writer.commit()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    inference = StalledInference()
    data_dir = tmp_path_factory.mktemp("slow") / "data"
    app = start_app(
        data_dir,
        inference_url=inference.url,
        OWNVOICE_MAX_RENDER_JOBS_PER_USER=str(RENDER_JOBS_PER_USER),
        ELEVENLABS_API_KEY="never-used",
        ELEVENLABS_BASE_URL=closed_port_url(),
    )
    yield app
    app.stop()
    inference.stop()


def new_user(server: AppServer, prefix: str) -> httpx.Client:
    """A new user whose cache already holds CACHED."""
    username = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client = create_user(server, username)
    with server.admin() as admin:
        user_id = next(u["id"] for u in admin.get("/api/users").json() if u["username"] == username)
    fill_cache(server.data_dir, user_id)
    return client


def cookie_of(client: httpx.Client) -> dict[str, str]:
    return {"Cookie": f"ownvoice_session={client.cookies['ownvoice_session']}"}


def slow_reader(server: AppServer, credentials: dict[str, str]) -> socket.socket:
    """Asks for the cached audio, reads the response head, and then reads nothing more."""
    sock = connect(server, rcvbuf=4096)
    body = json.dumps(CACHED).encode()
    headers = {**credentials, "Content-Type": "application/json", "Content-Length": str(len(body))}
    sock.sendall(head("POST", "/api/tts", headers) + body)
    response, _ = read_head(sock)
    assert response.status == 200 and response.headers["x-cache"] == "hit", response
    return sock


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def timed_get(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


# --- streams hold no database connection --------------------------------------------------


def test_twenty_slow_readers_of_cached_audio_do_not_starve_other_requests(
    server: AppServer,
) -> None:
    """The pool has 15 connections; 20 streams that nobody reads must not take them."""
    users = [new_user(server, "reader") for _ in range(5)]
    readers: list[socket.socket] = []
    try:
        for user in users:
            readers += [slow_reader(server, cookie_of(user)) for _ in range(STREAMS_PER_USER)]
        assert len(readers) == 20
        with new_user(server, "bystander") as bystander:
            response, seconds = timed_get(bystander, "/api/books")
        assert response.status_code == 200 and seconds < QUICK, seconds
    finally:
        close_all(readers)
        for user in users:
            user.close()


def test_stalled_uploads_do_not_hold_database_connections(server: AppServer) -> None:
    """20 uploads that authenticated and then stopped sending: another request still answers."""
    uploads_dir = voices_dir(server.data_dir)
    before = set(uploads_dir.glob(".upload-*")) if uploads_dir.exists() else set()
    boundary = "stall"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\nRIFF\x00\x00\x00\x00WAVEfmt "
    ).encode()
    with new_user(server, "uploader") as uploader:
        headers = {
            **cookie_of(uploader),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(MB),
        }
        stalled = [connect(server) for _ in range(20)]
        try:
            for sock in stalled:
                sock.sendall(head("POST", "/api/voice/upload", headers) + part)
            # Each upload's temp file appears once it is past authentication, reading its body.
            deadline = time.monotonic() + 15
            while len(set(uploads_dir.glob(".upload-*")) - before) < 20:
                assert time.monotonic() < deadline, "not every upload got past authentication"
                time.sleep(0.05)
            response, seconds = timed_get(uploader, "/api/books")
            assert response.status_code == 200 and seconds < QUICK, seconds
        finally:
            close_all(stalled)


# --- per-user stream limit -----------------------------------------------------------------


def test_a_users_fifth_stream_is_refused_until_one_of_the_four_ends(server: AppServer) -> None:
    with new_user(server, "listener") as listener:
        key = listener.post("/api/keys", json={"name": "sdk"}).json()["key"]
        readers = [slow_reader(server, cookie_of(listener)) for _ in range(STREAMS_PER_USER)]
        try:
            refused = listener.post("/api/tts", json=CACHED)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["detail"] == (
                "You already have 4 audio streams open, the most one user may have at once: "
                "let one finish or stop it, then try again."
            )
            # The same user through the ElevenLabs-compatible API: the same limit, its shape.
            with httpx.Client(base_url=server.url, headers={"xi-api-key": key}) as sdk:
                compat = sdk.post(
                    f"/v1/text-to-speech/{CACHED_VOICE}",
                    params={"output_format": "pcm_24000"},
                    json={"text": CACHED["text"]},
                )
            assert compat.status_code == 429
            assert compat.json()["detail"]["status"] == "too_many_concurrent_requests"
            # Another user is not affected.
            with (
                new_user(server, "neighbour") as neighbour,
                neighbour.stream("POST", "/api/tts", json=CACHED) as other,
            ):
                assert other.status_code == 200

            readers.pop().close()
            # The server notices the closed connection and gives its slot back.
            deadline = time.monotonic() + 15
            while True:
                with listener.stream("POST", "/api/tts", json=CACHED) as again:
                    if again.status_code == 200:
                        break
                    assert again.status_code == 429
                assert time.monotonic() < deadline, "the closed stream's slot never came back"
                time.sleep(0.1)
        finally:
            close_all(readers)


# --- render jobs -------------------------------------------------------------------------


def import_book(client: httpx.Client) -> dict:
    response = client.post(
        "/api/books", json={"title": "Night", "text": "It was late. The fox ran.", "language": "en"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def render(client: httpx.Client, book: dict, speed: float) -> httpx.Response:
    return client.post(
        f"/api/books/{book['id']}/renders", json={"voiceId": "stock-joe", "speed": speed}
    )


def test_a_render_at_a_speed_a_hair_away_is_the_same_job(server: AppServer) -> None:
    with new_user(server, "twin") as client:
        book = import_book(client)
        first = render(client, book, 1.0)
        assert first.status_code == 202
        for speed in (1.001, 1.02, 0.98):
            twin = render(client, book, speed)
            assert twin.status_code == 200 and twin.json()["id"] == first.json()["id"], speed
        step = render(client, book, 1.05)  # a step of its own: another sound, another job
        assert step.status_code == 202 and step.json()["speed"] == 1.05


def test_queued_render_jobs_per_user_are_capped(server: AppServer) -> None:
    with new_user(server, "queue") as client:
        book = import_book(client)
        jobs = [render(client, book, speed) for speed in (1.0, 1.5)]
        assert [job.status_code for job in jobs] == [202, 202]
        refused = render(client, book, 0.75)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
        assert refused.json()["detail"] == (
            "You already have 2 render jobs queued or running, the most one user may have: "
            "wait for one to finish or cancel one, then render again."
        )
        # A twin of an active job is still answered with that job.
        assert render(client, book, 1.5).json()["id"] == jobs[1].json()["id"]
        with new_user(server, "other-queue") as other:
            assert render(other, import_book(other), 0.75).status_code == 202
        cancelled = client.delete(f"/api/renders/{jobs[1].json()['id']}")
        assert cancelled.json()["status"] == "cancelled"
        assert render(client, book, 0.75).status_code == 202
