"""Consent, checked (issue 15, item 8): every cloned voice has a consent record.

`attested` stores the uploader's confirmation; `spoken` recordings must contain the consent
sentence, with the voice's name, in the voice of the rest of the recording. The spoken
recordings are made here from real speech: the stock Piper voice (through the app's own
/api/tts) reads a passage ending with the consent sentence (one speaker throughout, the
passing case), and a LibriSpeech reader's clip is spliced with Piper saying the sentence
(two speakers: refused)."""

from __future__ import annotations

import hashlib
import io
import uuid
import wave

import httpx
import pytest
from audio_files import CLEAN_WAV, LIBRISPEECH
from conftest import create_user
from elevenlabs.client import ElevenLabs
from servers import AppServer

from app.services.transcode import decoded_pcm

PASSAGE = (
    "On a bright morning in early June, Maya packed a thermos of coffee and a well-worn map. "
    "She laughed and pointed past the harbour, where fishing boats bobbed beside a quiet jetty."
)
RATE = 22050


def consent_sentence(name: str) -> str:
    return f"I, {name}, agree that Ownvoice may create a synthetic copy of my voice."


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def upload(client: httpx.Client, audio: bytes, name: str, consent: str | None) -> httpx.Response:
    data = {"name": name, "language": "en"}
    if consent is not None:
        data["consent"] = consent
    return client.post(
        "/api/voice/upload", data=data, files={"audio": ("me.wav", audio, "audio/wav")}
    )


def samples(encoded: bytes) -> bytes:
    """Decoded to s16le mono PCM at RATE."""
    return decoded_pcm(encoded, RATE)


def wav(*parts: bytes) -> bytes:
    """The parts, each followed by half a second of silence, as a WAV file."""
    joined = b"".join(part + bytes(RATE) for part in parts)
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(joined)
    return out.getvalue()


def piper(client: httpx.Client, text: str) -> bytes:
    """`text` read by the stock Piper voice, through the app server."""
    response = client.post("/api/tts", json={"text": text, "voiceId": "stock-joe", "format": "wav"})
    assert response.status_code == 200, response.text
    return samples(response.content)


@pytest.fixture(scope="module")
def client(stack: AppServer) -> httpx.Client:
    return create_user(stack, unique("consent"))


def test_an_upload_without_consent_is_refused_and_nothing_is_kept(client: httpx.Client) -> None:
    response = upload(client, CLEAN_WAV.read_bytes(), "No consent", None)
    assert response.status_code == 422
    assert "'consent'" in response.json()["detail"] and "attested" in response.json()["detail"]
    assert response.json()["code"] == "consent_required"
    unknown = upload(client, CLEAN_WAV.read_bytes(), "No consent", "maybe")
    assert unknown.status_code == 422 and unknown.json()["code"] == "consent_required"
    assert [v["name"] for v in client.get("/api/voices").json()["voices"]] == []


def test_an_attested_upload_stores_who_when_and_the_recordings_hash(client: httpx.Client) -> None:
    me = client.get("/api/auth/me").json()["id"]
    response = upload(client, CLEAN_WAV.read_bytes(), "Attested", "attested")
    assert response.status_code == 201, response.text
    voice = client.get(f"/api/voices/{response.json()['voice']['id']}").json()
    consent = voice["consent"]
    assert consent["method"] == "attested" and consent["user_id"] == me
    assert consent["name"] == "Attested" and consent["transcript"] is None
    assert consent["audio_sha256"] == hashlib.sha256(CLEAN_WAV.read_bytes()).hexdigest()
    assert consent["created_at"] >= voice["created_at"][:19]


def test_elevenlabs_add_records_the_key_owner_as_attesting(stack: AppServer) -> None:
    with create_user(stack, unique("xi")) as owner:
        me = owner.get("/api/auth/me").json()["id"]
        key = owner.post("/api/keys", json={"name": "sdk"}).json()["key"]
        eleven = ElevenLabs(api_key=key, base_url=stack.url)
        with CLEAN_WAV.open("rb") as sample:
            voice_id = eleven.voices.ivc.create(name="By key", files=[sample]).voice_id
        consent = owner.get(f"/api/voices/{voice_id}").json()["consent"]
    assert consent["method"] == "attested" and consent["user_id"] == me
    assert consent["audio_sha256"] == hashlib.sha256(CLEAN_WAV.read_bytes()).hexdigest()


# --- spoken: the inference service listens -------------------------------------------------


def test_a_recording_without_the_consent_sentence_is_refused(client: httpx.Client) -> None:
    response = upload(client, CLEAN_WAV.read_bytes(), "Silent", "spoken")
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "sentence_not_heard"
    assert "consent sentence was not heard" in response.json()["detail"]
    assert "Silent" not in [v["name"] for v in client.get("/api/voices").json()["voices"]]


def test_the_consent_sentence_in_the_speakers_own_voice_passes(client: httpx.Client) -> None:
    recording = wav(piper(client, PASSAGE), piper(client, consent_sentence("Maya Brown")))
    response = upload(client, recording, "Maya Brown", "spoken")
    assert response.status_code == 201, response.text
    consent = client.get(f"/api/voices/{response.json()['voice']['id']}").json()["consent"]
    assert consent["method"] == "spoken" and consent["name"] == "Maya Brown"
    assert "synthetic copy of my voice" in consent["transcript"].lower()
    assert consent["speaker_similarity"] >= 0.73
    assert consent["audio_sha256"] == hashlib.sha256(recording).hexdigest()


def test_the_consent_sentence_without_the_name_is_refused(client: httpx.Client) -> None:
    recording = wav(piper(client, PASSAGE), piper(client, consent_sentence("Maya Brown")))
    response = upload(client, recording, "Oliver Twist", "spoken")
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "name_not_heard"
    assert "not the name 'Oliver Twist'" in response.json()["detail"]


def test_the_consent_sentence_in_another_voice_is_refused(client: httpx.Client) -> None:
    reader = (LIBRISPEECH / "1688" / "1688-142285-0000.flac").read_bytes()
    recording = wav(samples(reader), piper(client, consent_sentence("Maya Brown")))
    response = upload(client, recording, "Maya Brown", "spoken")
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "different_speaker"
    assert "different voice" in response.json()["detail"]
