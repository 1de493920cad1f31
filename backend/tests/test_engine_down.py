"""The inference service going away and coming back, as the app server's clients see it:
a 503 that says so (code `inference_unreachable` + Retry-After), cached audio and stock voices
still there, and a voice that failed meanwhile prepared again with Retry."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from audio_files import CLEAN_WAV, SHORT_WAV
from conftest import create_user, login
from cuttable_proxy import CuttableProxy
from servers import AppServer, InferenceServer

ENGINE_DOWN = "inference_unreachable"


@pytest.fixture(scope="module")
def proxy(inference: InferenceServer) -> CuttableProxy:
    return CuttableProxy(inference.url)


@pytest.fixture(scope="module")
def server(app_on_inference: Callable[..., AppServer], proxy: CuttableProxy) -> AppServer:
    """An app server of its own (own database and cache) reaching the inference service
    through the proxy that the tests cut and restore."""
    return app_on_inference("engine-down", via=proxy.url)


@pytest.fixture
def client(server: AppServer, proxy: CuttableProxy) -> Iterator[httpx.Client]:
    proxy.up()
    with create_user(server, f"listener-{uuid.uuid4().hex[:6]}") as user:
        yield user
    proxy.up()


def upload(client: httpx.Client, audio: Path, name: str) -> httpx.Response:
    return client.post(
        "/api/voice/upload",
        data={"name": name, "language": "en", "consent": "attested"},
        files={"audio": ("me.wav", audio.read_bytes(), "audio/wav")},
    )


def assert_engine_down(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == ENGINE_DOWN
    assert int(response.headers["retry-after"]) > 0
    assert "not reachable" in response.json()["detail"]


def test_engine_down_is_a_distinct_503_and_cached_audio_still_plays(
    client: httpx.Client, proxy: CuttableProxy
) -> None:
    said = {"text": "Said once while the engine was up.", "voiceId": "stock-joe"}
    first = client.post("/api/tts", json=said)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"

    proxy.down()
    cached = client.post("/api/tts", json=said)
    assert cached.status_code == 200 and cached.headers["x-cache"] == "hit"
    assert cached.content == first.content
    assert_engine_down(client.post("/api/tts", json={**said, "text": "Never said before."}))
    health = client.get("/api/health").json()["inference"]
    assert (health["ready"], health["reachable"], health["code"]) == (False, False, ENGINE_DOWN)

    proxy.up()
    again = client.post("/api/tts", json={**said, "text": "Never said before."})
    assert again.status_code == 200 and again.headers["x-cache"] == "miss"
    assert client.get("/api/health").json()["inference"]["reachable"] is True


def test_a_sentence_the_engine_refuses_is_not_engine_down(client: httpx.Client) -> None:
    refused = client.post("/api/tts", json={"text": "x", "voiceId": "stock-nobody"})
    assert refused.status_code == 404
    assert refused.json()["code"] != ENGINE_DOWN


def test_stock_voices_stay_listed_while_the_engine_is_down_even_after_a_restart(
    server: AppServer, client: httpx.Client, proxy: CuttableProxy
) -> None:
    listed = client.get("/api/voices").json()["stock"]
    assert [v["voice_id"] for v in listed] == ["stock-joe"]
    proxy.down()
    assert client.get("/api/voices").json()["stock"] == listed
    server.restart()  # remembered on disk, not only in memory
    with login(server) as admin:
        assert admin.get("/api/voices").json()["stock"] == listed
    assert (server.data_dir / "stock_voices.json").is_file()


def test_a_voice_uploaded_while_the_engine_is_down_is_prepared_again_with_retry(
    server: AppServer, client: httpx.Client, proxy: CuttableProxy
) -> None:
    proxy.down()
    assert_engine_down(upload(client, CLEAN_WAV, "Made while down"))
    (voice,) = client.get("/api/voices").json()["voices"]
    assert (voice["status"], voice["can_retry"]) == ("failed", True)
    kept = list((server.data_dir / "uploads" / "voices").glob(f"*_{voice['id']}_reference.wav"))
    assert [p.read_bytes() for p in kept] == [CLEAN_WAV.read_bytes()]

    still_down = client.post(f"/api/voices/{voice['id']}/retry")
    assert_engine_down(still_down)
    assert client.get(f"/api/voices/{voice['id']}").json()["can_retry"] is True

    proxy.up()
    retried = client.post(f"/api/voices/{voice['id']}/retry")
    assert retried.status_code == 200, retried.text
    ready = retried.json()
    assert (ready["status"], ready["error"], ready["can_retry"]) == ("ready", None, False)
    assert ready["is_default"] is True and ready["report"]["speech_seconds"] > 3
    spoken = client.post("/api/tts", json={"text": "Hello again.", "voiceId": "custom_user_voice"})
    assert spoken.status_code == 200

    again = client.post(f"/api/voices/{voice['id']}/retry")
    assert again.status_code == 409
    assert "only a failed voice" in again.json()["detail"]


def test_a_recording_the_engine_rejected_is_not_kept_and_cannot_be_retried(
    server: AppServer, client: httpx.Client
) -> None:
    assert upload(client, SHORT_WAV, "Too short").status_code == 422
    (voice,) = client.get("/api/voices").json()["voices"]
    assert (voice["status"], voice["can_retry"]) == ("failed", False)
    assert not list((server.data_dir / "uploads" / "voices").glob(f"*_{voice['id']}_*"))
    refused = client.post(f"/api/voices/{voice['id']}/retry")
    assert refused.status_code == 409
    assert "record or upload a new one" in refused.json()["detail"]


def test_retry_of_another_users_voice_is_404(server: AppServer, proxy: CuttableProxy) -> None:
    proxy.down()
    with create_user(server, f"owner-{uuid.uuid4().hex[:6]}") as owner:
        assert upload(owner, CLEAN_WAV, "Mine").status_code == 503
        (voice,) = owner.get("/api/voices").json()["voices"]
    proxy.up()
    with create_user(server, f"other-{uuid.uuid4().hex[:6]}") as other:
        assert other.post(f"/api/voices/{voice['id']}/retry").status_code == 404
