"""Voice ids that are not local go to ElevenLabs (here: a fake on loopback) when
ELEVENLABS_API_KEY is set; otherwise a clear 400 names the missing setting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fake_elevenlabs import (
    CUT_OFF,
    FAKE_KEY,
    GATED,
    RACHEL,
    FakeElevenLabs,
    fake_audio,
    running_fake,
)
from servers import ADMIN_API_KEY, AppServer, start_app


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeElevenLabs]:
    with running_fake() as fake:
        yield fake


@pytest.fixture(scope="module")
def el_app(tmp_path_factory: pytest.TempPathFactory, fake: FakeElevenLabs) -> Iterator[AppServer]:
    server = start_app(
        tmp_path_factory.mktemp("el") / "data",
        ELEVENLABS_API_KEY=FAKE_KEY,
        ELEVENLABS_BASE_URL=fake.url,
    )
    yield server
    server.stop()


def cached_entries(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "audio_cache").rglob("*") if p.is_file()]


def test_elevenlabs_voice_streams_through_and_is_cached(
    el_app: AppServer, fake: FakeElevenLabs
) -> None:
    text = "Hello from the passthrough."
    with el_app.admin() as client:
        with client.stream("POST", "/api/tts", json={"text": text, "voiceId": RACHEL}) as response:
            assert response.status_code == 200
            assert response.headers["x-cache"] == "miss"
            assert response.headers["content-type"].startswith("audio/mpeg")
            received = [chunk for chunk in response.iter_raw()]
        assert b"".join(received) == b"".join(fake_audio(RACHEL, text))
        call = fake.calls[-1]
        assert call["key"] == FAKE_KEY and call["output_format"] == "mp3_44100_128"
        assert call["body"]["text"] == text
        calls_before = len(fake.calls)
        again = client.post("/api/tts", json={"text": text, "voiceId": RACHEL})
        assert again.headers["x-cache"] == "hit"
        assert again.content == b"".join(fake_audio(RACHEL, text))
        assert len(fake.calls) == calls_before  # answered from disk, upstream not asked


def test_passthrough_streams_without_buffering(el_app: AppServer, fake: FakeElevenLabs) -> None:
    """The upstream holds back everything after its first chunk: that first chunk must still
    reach the client, which proves the app passes bytes on as they come."""
    text = "Held back upstream."
    fake.gate.clear()
    headers = {"Authorization": "Bearer " + ADMIN_API_KEY}
    body = {"text": text, "voiceId": GATED}
    with (
        el_app.client(headers=headers, timeout=httpx.Timeout(10)) as client,
        client.stream("POST", "/api/tts", json=body) as response,
    ):
        chunks = response.iter_raw()
        first = next(chunks)  # a ReadTimeout here would mean the app buffered
        assert first == fake_audio(GATED, text)[0][: len(first)]
        fake.gate.set()
        rest = b"".join(chunks)
    assert first + rest == b"".join(fake_audio(GATED, text))


def test_cache_survives_a_restart(el_app: AppServer, fake: FakeElevenLabs) -> None:
    text = "Still here after a restart."
    with el_app.admin() as client:
        assert (
            client.post("/api/tts", json={"text": text, "voiceId": RACHEL}).headers["x-cache"]
            == "miss"
        )
    el_app.restart()
    calls_before = len(fake.calls)
    with el_app.admin() as client:
        response = client.post("/api/tts", json={"text": text, "voiceId": RACHEL})
        assert response.headers["x-cache"] == "hit"
        assert response.content == b"".join(fake_audio(RACHEL, text))
    assert len(fake.calls) == calls_before


def test_a_stream_cut_off_midway_caches_nothing(el_app: AppServer, fake: FakeElevenLabs) -> None:
    text = "This stream breaks."
    before = set(cached_entries(el_app.data_dir))
    with el_app.admin() as client:
        for _attempt in range(2):
            received = b""
            with (
                pytest.raises(httpx.HTTPError),
                client.stream(
                    "POST", "/api/tts", json={"text": text, "voiceId": CUT_OFF}
                ) as response,
            ):
                assert response.headers["x-cache"] == "miss"  # never a hit
                for chunk in response.iter_raw():
                    received += chunk
            assert 0 < len(received) < len(b"".join(fake_audio(CUT_OFF, text)))
    assert set(cached_entries(el_app.data_dir)) == before


def test_wav_from_elevenlabs_gets_a_streamed_header(el_app: AppServer) -> None:
    text = "A wave please."
    with el_app.admin() as client:
        response = client.post("/api/tts", json={"text": text, "voiceId": RACHEL, "format": "wav"})
        assert response.status_code == 200
        assert response.content[:4] == b"RIFF" and response.content[8:12] == b"WAVE"
        assert response.content[44:] == b"".join(fake_audio(RACHEL, text))


def test_upstream_errors_pass_through_with_their_status(el_app: AppServer) -> None:
    with el_app.admin() as client:
        response = client.post("/api/tts", json={"text": "x", "voiceId": "unknownVoice1234"})
        assert response.status_code == 404
        assert "not found" in response.json()["detail"].lower()


def test_elevenlabs_voices_are_listed(el_app: AppServer) -> None:
    with el_app.admin() as client:
        body = client.get("/api/voices").json()
        assert {"voice_id": RACHEL, "name": "Rachel"} in body["elevenlabs"]


def test_a_rejected_elevenlabs_key_is_not_the_users_401(
    tmp_path: Path, fake: FakeElevenLabs
) -> None:
    server = start_app(
        tmp_path / "data", ELEVENLABS_API_KEY="wrong-key", ELEVENLABS_BASE_URL=fake.url
    )
    try:
        with server.admin() as client:
            response = client.post("/api/tts", json={"text": "x", "voiceId": RACHEL})
            assert response.status_code == 502
            assert "ELEVENLABS_API_KEY" in response.json()["detail"]
    finally:
        server.stop()


def test_without_a_key_other_voice_ids_get_a_400_naming_the_setting(app_server: AppServer) -> None:
    with app_server.admin() as client:
        response = client.post("/api/tts", json={"text": "hello", "voiceId": RACHEL})
        assert response.status_code == 400
        assert "ELEVENLABS_API_KEY" in response.json()["detail"]
        assert client.get("/api/voices").json()["elevenlabs"] == []


@pytest.mark.parametrize(
    "voice_id",
    ["../../v1/sound-generation#", "..%2F..%2Fv1%2Fsound-generation", "x/../../v1/voices?", "a.b"],
)
def test_voice_ids_that_are_not_elevenlabs_ids_never_reach_elevenlabs(
    el_app: AppServer, fake: FakeElevenLabs, voice_id: str
) -> None:
    before = len(fake.paths)
    with el_app.admin() as client:
        response = client.post("/api/tts", json={"text": "Hello there.", "voiceId": voice_id})
        assert response.status_code == 404
        assert "not one of your voices" in response.json()["detail"]
        openai = client.post(
            "/v1/audio/speech", json={"model": "tts-1", "input": "Hello there.", "voice": voice_id}
        )
        assert openai.status_code == 404
    assert fake.paths[before:] == []  # not a single request with the server's key
    with el_app.admin() as client:
        text = f"Only the intended path, not {voice_id}."  # a new text: a cache miss
        ok = client.post("/api/tts", json={"text": text, "voiceId": RACHEL})
        assert ok.status_code == 200
    assert fake.paths[before:] == [
        f"POST /v1/text-to-speech/{RACHEL}/stream?output_format=mp3_44100_128"
    ]


def test_another_user_cannot_tell_from_the_cache_what_was_read(el_app: AppServer) -> None:
    from conftest import create_user

    text = "A private sentence only Alice asked for."
    with create_user(el_app, "alice-el") as alice, create_user(el_app, "bob-el") as bob:
        assert (
            alice.post("/api/tts", json={"text": text, "voiceId": RACHEL}).headers["x-cache"]
            == "miss"
        )
        assert (
            alice.post("/api/tts", json={"text": text, "voiceId": RACHEL}).headers["x-cache"]
            == "hit"
        )
        probe = bob.post("/api/tts", json={"text": text, "voiceId": RACHEL})
        assert probe.status_code == 200 and probe.headers["x-cache"] == "miss"
