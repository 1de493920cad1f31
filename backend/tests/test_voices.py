"""Voice upload and management against the real inference service (tiny XTTS checkpoint)."""

from __future__ import annotations

import select
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from audio_files import CLEAN_WAV, FLAC, OTHER_WAV, SHORT_WAV, reencode
from conftest import create_user
from servers import AppServer


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def upload(
    client: httpx.Client,
    data: bytes,
    name: str = "My voice",
    filename: str = "me.wav",
    content_type: str = "audio/wav",
    language: str = "en",
    consent: str = "attested",
) -> httpx.Response:
    return client.post(
        "/api/voice/upload",
        data={"name": name, "language": language, "consent": consent},
        files={"audio": (filename, data, content_type)},
    )


def voice_files(server: AppServer) -> list[str]:
    return sorted(p.name for p in (server.data_dir / "uploads" / "voices").iterdir())


def test_upload_creates_a_ready_default_voice_and_stores_the_original(stack: AppServer) -> None:
    with create_user(stack, unique("uploader")) as client:
        user_id = client.get("/api/auth/me").json()["id"]
        response = upload(client, CLEAN_WAV.read_bytes())
        assert response.status_code == 201, response.text
        voice = response.json()["voice"]
        assert voice["status"] == "ready" and voice["is_default"] is True
        assert voice["error"] is None
        report = response.json()["report"]
        assert 5 < report["speech_seconds"] <= 10 and "snr_db" in report
        stored = stack.data_dir / "uploads" / "voices" / f"{user_id}_{voice['id']}_reference.wav"
        assert stored.read_bytes() == CLEAN_WAV.read_bytes()
        listing = client.get("/api/voices").json()
        assert [v["id"] for v in listing["voices"]] == [voice["id"]]
        assert listing["default_voice_id"] == voice["id"]
        assert any(s["voice_id"].startswith("stock-") for s in listing["stock"])
        assert listing["elevenlabs"] == []


def test_other_formats_by_content_not_by_name(stack: AppServer) -> None:
    with create_user(stack, unique("formats")) as client:
        flac = upload(
            client,
            FLAC.read_bytes(),
            name="flac",
            filename="clip.bin",
            content_type="application/octet-stream",
        )
        assert flac.status_code == 201, flac.text
        webm = upload(
            client,
            reencode(CLEAN_WAV, "webm", "libopus", 48000),
            name="webm",
            filename="recording.wav",
            content_type="audio/wav",
        )
        assert webm.status_code == 201, webm.text
        user_id = client.get("/api/auth/me").json()["id"]
        names = voice_files(stack)
        assert f"{user_id}_{flac.json()['voice']['id']}_reference.flac" in names
        assert f"{user_id}_{webm.json()['voice']['id']}_reference.webm" in names


def test_text_renamed_to_wav_is_415_and_existing_voices_are_untouched(stack: AppServer) -> None:
    with create_user(stack, unique("careful")) as client:
        first = upload(client, CLEAN_WAV.read_bytes()).json()["voice"]
        before_files = voice_files(stack)
        response = upload(
            client,
            b"This is just text, pretending to be a WAV file.\n" * 50,
            filename="voice.wav",
            content_type="audio/wav",
        )
        assert response.status_code == 415
        assert "wav, mp3, m4a, webm, ogg or flac" in response.json()["detail"]
        listing = client.get("/api/voices").json()
        assert [v["id"] for v in listing["voices"]] == [first["id"]]
        assert listing["default_voice_id"] == first["id"]
        assert voice_files(stack) == before_files  # no stray temp file either


def test_too_short_speech_fails_with_the_inference_services_status(stack: AppServer) -> None:
    with create_user(stack, unique("short")) as client:
        good = upload(client, CLEAN_WAV.read_bytes()).json()["voice"]
        response = upload(client, SHORT_WAV.read_bytes(), name="too short")
        assert response.status_code == 422
        assert "3" in response.json()["detail"] or "short" in response.json()["detail"].lower()
        voices = {v["name"]: v for v in client.get("/api/voices").json()["voices"]}
        assert voices["too short"]["status"] == "failed"
        assert voices["too short"]["error"] == response.json()["detail"]
        assert voices["My voice"]["id"] == good["id"] and voices["My voice"]["is_default"]
        user_id = client.get("/api/auth/me").json()["id"]
        failed_id = voices["too short"]["id"]
        assert not any(name.startswith(f"{user_id}_{failed_id}") for name in voice_files(stack))
        tts = client.post("/api/tts", json={"text": "Hi.", "voiceId": failed_id})
        assert tts.status_code == 409


def test_oversized_upload_is_refused_before_it_is_read(stack: AppServer) -> None:
    with create_user(stack, unique("big")) as client:
        big = b"RIFF\x00\x00\x00\x00WAVE" + b"\x00" * (26 * 1024 * 1024)
        response = upload(client, big)
        assert response.status_code == 413
        assert "25 MB" in response.json()["detail"]
        assert client.get("/api/voices").json()["voices"] == []


def test_oversized_chunked_upload_is_cut_off_while_streaming(stack: AppServer) -> None:
    """No Content-Length: the server counts while the body streams in and stops at 25 MB."""
    cookie = create_user(stack, unique("chunked")).cookies["ownvoice_session"]
    boundary = "ownvoiceboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; '
        f'filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    url = urlsplit(stack.url)
    sent, answered_at = 0, None
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(
            (
                f"POST /api/voice/upload HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Cookie: ownvoice_session={cookie}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        chunk = head + b"RIFF\x00\x00\x00\x00WAVE" + b"\x00" * (1024 * 1024)
        try:
            for _ in range(60):  # up to 60 MB offered
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                chunk = b"\x00" * (1024 * 1024)
                if select.select([sock], [], [], 0.05)[0]:
                    answered_at = sent  # the answer came while we were still sending
                    break
        except OSError:
            answered_at = sent  # the server stopped reading and closed
        sock.settimeout(10)
        reply = b""
        try:
            while not reply.endswith(b"}") and (data := sock.recv(65536)):
                reply += data
        except OSError:
            pass
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert answered_at is not None and 25 * 2**20 < answered_at < 40 * 2**20, answered_at
    leftovers = [n for n in voice_files(stack) if n.startswith(".upload-")]
    assert leftovers == []


def test_missing_fields_are_clear_errors(stack: AppServer) -> None:
    with create_user(stack, unique("fields")) as client:
        no_file = client.post(
            "/api/voice/upload", data={"name": "x"}, files={"other": ("a.txt", b"x", "text/plain")}
        )
        assert no_file.status_code == 400
        no_audio = client.post("/api/voice/upload", data={"name": "x"})
        # form fields alone go out urlencoded, not as multipart: refused before any parsing
        assert no_audio.status_code == 415 and "multipart/form-data" in no_audio.json()["detail"]
        no_name = upload(client, CLEAN_WAV.read_bytes(), name="  ")
        assert no_name.status_code == 422 and "name" in no_name.json()["detail"]
        bad_language = upload(client, CLEAN_WAV.read_bytes(), language="../etc")
        assert bad_language.status_code == 422
        assert client.get("/api/voices").json()["voices"] == []


def test_rename_default_and_custom_user_voice(stack: AppServer) -> None:
    with create_user(stack, unique("chooser")) as client:
        no_voice = client.post("/api/tts", json={"text": "Hi.", "voiceId": "custom_user_voice"})
        assert no_voice.status_code == 400 and "voice" in no_voice.json()["detail"].lower()
        first = upload(client, CLEAN_WAV.read_bytes(), name="First").json()["voice"]
        second = upload(client, OTHER_WAV.read_bytes(), name="Second").json()["voice"]
        assert second["is_default"] is False
        renamed = client.patch(f"/api/voices/{second['id']}", json={"name": "Reading voice"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "Reading voice"
        assert client.post(f"/api/voices/{second['id']}/default").json()["is_default"] is True
        listing = client.get("/api/voices").json()
        assert listing["default_voice_id"] == second["id"]
        assert [v["is_default"] for v in listing["voices"]] == [False, True]
        # custom_user_voice now resolves to the second voice: the answer for the same text
        # is the cache entry the explicit id just created.
        text = "Which voice am I?"
        explicit = client.post("/api/tts", json={"text": text, "voiceId": second["id"]})
        assert explicit.status_code == 200 and explicit.headers["x-cache"] == "miss"
        mine = client.post("/api/tts", json={"text": text, "voiceId": "custom_user_voice"})
        assert mine.headers["x-cache"] == "hit" and mine.content == explicit.content
        assert first["id"] != second["id"]


def test_users_never_see_or_use_each_others_voices(stack: AppServer) -> None:
    with create_user(stack, unique("owner")) as owner, create_user(stack, unique("other")) as other:
        voice = upload(owner, CLEAN_WAV.read_bytes()).json()["voice"]
        assert other.get("/api/voices").json()["voices"] == []
        assert other.get(f"/api/voices/{voice['id']}").status_code == 404
        assert other.patch(f"/api/voices/{voice['id']}", json={"name": "mine"}).status_code == 404
        assert other.post(f"/api/voices/{voice['id']}/default").status_code == 404
        assert other.delete(f"/api/voices/{voice['id']}").status_code == 404
        tts = other.post("/api/tts", json={"text": "Hi.", "voiceId": voice["id"]})
        assert tts.status_code == 404
        mine = other.post("/api/tts", json={"text": "Hi.", "voiceId": "custom_user_voice"})
        assert mine.status_code == 400
        assert owner.get(f"/api/voices/{voice['id']}").json()["name"] == "My voice"


def test_delete_removes_upload_and_prepared_voice_and_moves_the_default(stack: AppServer) -> None:
    with create_user(stack, unique("deleter")) as client:
        first = upload(client, CLEAN_WAV.read_bytes(), name="First").json()["voice"]
        second = upload(client, OTHER_WAV.read_bytes(), name="Second").json()["voice"]
        user_id = client.get("/api/auth/me").json()["id"]
        data: Path = stack.data_dir
        upload_file = data / "uploads" / "voices" / f"{user_id}_{first['id']}_reference.wav"
        conditioning = data / "cache" / "conditioning" / f"{first['id']}.safetensors"
        assert upload_file.exists() and conditioning.exists()
        assert client.delete(f"/api/voices/{first['id']}").status_code == 204
        assert not upload_file.exists() and not conditioning.exists()
        assert not (data / "voices" / f"{first['id']}.wav").exists()
        listing = client.get("/api/voices").json()
        assert [v["id"] for v in listing["voices"]] == [second["id"]]
        assert listing["default_voice_id"] == second["id"]
        assert client.delete(f"/api/voices/{first['id']}").status_code == 404
