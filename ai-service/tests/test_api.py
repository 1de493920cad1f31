"""The app through its real lifespan (tiny XTTS), over httpx: auth, ready, voices, generate errors."""

from __future__ import annotations

import io
import os
import wave

import pytest

from tests.conftest import AUTH


@pytest.fixture
def client(client_factory):
    return client_factory()


@pytest.fixture
def voice_bytes(ljspeech_wavs) -> bytes:
    return ljspeech_wavs[0].read_bytes()


def put_voice(client, voice_id, data):
    return client.put(f"/voices/{voice_id}", content=data, headers=AUTH)


def wav_seconds(data: bytes) -> float:
    """Duration of a streamed WAV (its header announces an unknown length)."""
    assert data[:4] == b"RIFF"
    return (len(data) - 44) / 2 / 24000


def test_health_is_public_everything_else_needs_the_token(client):
    assert client.get("/health").json() == {"status": "ok"}
    for method, path in [
        ("get", "/ready"),
        ("get", "/stock-voices"),
        ("delete", "/voices/a"),
        ("post", "/generate"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 401, path
        assert response.json()["detail"]["code"] == "unauthorized"
    wrong = client.get("/ready", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_ready_reports_engine_model_device_dtype(client):
    ready = client.get("/ready", headers=AUTH).json()
    assert ready["ready"] is True and ready["cloning_available"] is True
    xtts = ready["engines"]["xtts"]
    assert xtts["available"] and xtts["model_id"].startswith("xtts-v2-random-tiny-")
    assert (xtts["device"], xtts["dtype"]) == ("cpu", "float32")
    assert ready["reason"] is None and ready["model_id"] == xtts["model_id"]
    assert set(ready["engines"]["piper"]) >= {"available", "model_id", "device", "dtype", "reason"}


def test_without_a_model_cloning_is_unavailable_but_the_service_runs(client_factory, voice_bytes):
    client = client_factory(demo_model=None)
    ready = client.get("/ready", headers=AUTH).json()
    assert ready["cloning_available"] is False
    assert "XTTS_MODEL_DIR" in ready["reason"] and "COQUI_TOS_AGREED" in ready["reason"]
    response = put_voice(client, "v1", voice_bytes)
    assert (
        response.status_code == 503 and response.json()["detail"]["code"] == "cloning_unavailable"
    )
    response = client.post("/generate", json={"text": "hi", "voice_id": "v1"}, headers=AUTH)
    assert response.status_code == 404 and response.json()["detail"]["code"] == "unknown_voice"


def test_put_voice_reports_and_conditioning_is_computed_once(client, voice_bytes):
    services = client.app.state.services
    model = services.xtts.model
    calls = []
    original = model.get_gpt_cond_latents

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    model.get_gpt_cond_latents = counting
    response = put_voice(client, "alice", voice_bytes)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["voice_id"] == "alice" and body["model_id"] == services.xtts.status().model_id
    assert set(body["report"]) >= {
        "speech_seconds",
        "snr_db",
        "clipping_ratio",
        "loudness_lufs",
        "warnings",
    }
    assert len(calls) == 1
    hashes = set()
    for seed in range(3):
        generated = client.post(
            "/generate",
            json={"text": "Hello there.", "voice_id": "alice", "seed": seed},
            headers=AUTH,
        )
        assert generated.status_code == 200
        hashes.add(generated.headers["X-Conditioning-Hash"])
    assert len(calls) == 1  # never recomputed per request
    assert hashes == {body["conditioning_hash"]}
    data_dir = services.settings.data_dir
    assert (data_dir / "voices" / "alice.wav").is_file()
    assert (data_dir / "cache" / "conditioning" / "alice.safetensors").is_file()


def test_conditioning_survives_restart_and_follows_model_changes(
    client_factory, voice_bytes, tmp_path
):
    first = client_factory(data_dir=tmp_path / "shared")
    original_hash = put_voice(first, "bob", voice_bytes).json()["conditioning_hash"]
    second = client_factory(data_dir=tmp_path / "shared")  # same data, same model: read from disk
    model = second.app.state.services.xtts.model
    calls = []
    original = model.get_gpt_cond_latents
    model.get_gpt_cond_latents = lambda *a, **k: calls.append(1) or original(*a, **k)
    response = second.post("/generate", json={"text": "Hi.", "voice_id": "bob"}, headers=AUTH)
    assert response.headers["X-Conditioning-Hash"] == original_hash and calls == []
    # a different model id: recomputed by itself, once
    second.app.state.services.store.model_id = "another-model"
    for _ in range(2):
        response = second.post("/generate", json={"text": "Hi.", "voice_id": "bob"}, headers=AUTH)
        assert response.headers["X-Conditioning-Hash"] != original_hash
    assert calls == [1]


def test_bad_uploads_are_refused_and_the_old_voice_stays(client, voice_bytes, ljspeech_wavs):
    assert put_voice(client, "carol", voice_bytes).status_code == 200
    reference = client.app.state.services.settings.data_dir / "voices" / "carol.wav"
    before = reference.read_bytes()
    text = put_voice(client, "carol", b"this is not audio at all, just text " * 50)
    assert text.status_code == 415 and text.json()["detail"]["code"] == "unreadable_audio"
    short = io.BytesIO()
    with (
        wave.open(short, "wb") as out,
        wave.open(str(ljspeech_wavs[1]), "rb") as source,
    ):  # 2 s of a real clip
        out.setparams(source.getparams())
        out.writeframes(source.readframes(source.getframerate() * 2))
    rejected = put_voice(client, "carol", short.getvalue())
    assert rejected.status_code == 422 and rejected.json()["detail"]["code"] == "too_short"
    assert reference.read_bytes() == before
    dotted = put_voice(client, "..evil", voice_bytes)
    assert dotted.status_code == 400 and dotted.json()["detail"]["code"] == "invalid_voice_id"
    # A slash in the id (sent encoded: a client would resolve "../" itself) matches no route.
    assert put_voice(client, "..%2Fevil", voice_bytes).status_code == 404
    bad_id = put_voice(client, "stock-joe", voice_bytes)
    assert bad_id.status_code == 400 and bad_id.json()["detail"]["code"] == "invalid_voice_id"


def test_delete_voice_is_idempotent(client, voice_bytes):
    put_voice(client, "dave", voice_bytes)
    assert client.delete("/voices/dave", headers=AUTH).status_code == 204
    assert client.delete("/voices/dave", headers=AUTH).status_code == 204
    response = client.post("/generate", json={"text": "Hi.", "voice_id": "dave"}, headers=AUTH)
    assert response.status_code == 404 and response.json()["detail"]["code"] == "unknown_voice"


@pytest.mark.parametrize(
    "path",
    [
        "../secrets/inference_token",
        "/etc/passwd",
        "../../../../../../etc/hostname",
        "voices/../../secrets/inference_token",
        "eve.wav/../../secrets/inference_token",
        "missing.wav",
        "/voices/eve.wav",
        "eve.wav\x00.png",
        "",
    ],
)
def test_speaker_wav_path_outside_voices_is_a_uniform_400(client, voice_bytes, path):
    put_voice(client, "eve", voice_bytes)
    response = client.post(
        "/generate", json={"text": "Hi.", "speaker_wav_path": path}, headers=AUTH
    )
    assert response.status_code == 400
    assert response.json()["detail"] == {
        "code": "invalid_path",
        "message": "speaker_wav_path must name a voice file in the voices directory; use voice_id.",
    }


def test_symlink_escaping_the_voices_dir_is_refused(client, voice_bytes, tmp_path):
    put_voice(client, "eve", voice_bytes)
    voices = client.app.state.services.settings.voices_dir
    outside = tmp_path / "outside.wav"
    outside.write_bytes((voices / "eve.wav").read_bytes())
    os.symlink(outside, voices / "sneaky.wav")
    response = client.post(
        "/generate",
        json={"text": "Hi.", "speaker_wav_path": str(voices / "sneaky.wav")},
        headers=AUTH,
    )
    assert response.status_code == 400


def test_seed_contract_with_speaker_wav_path_inside(client, voice_bytes):
    put_voice(client, "frank", voice_bytes)
    voices = client.app.state.services.settings.voices_dir
    for path in [str(voices / "frank.wav"), "frank.wav"]:
        response = client.post(
            "/generate",
            json={"text": "Hello.", "speaker_wav_path": path, "language": "en"},
            headers=AUTH,
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/wav"
        assert wav_seconds(response.content) > 0.5


def test_request_validation_errors_are_shaped(client, voice_bytes):
    put_voice(client, "gina", voice_bytes)
    cases = [
        ({"text": "", "voice_id": "gina"}, 422, "invalid_request"),
        ({"text": "Hi", "voice_id": "gina", "format": "flac"}, 422, "invalid_request"),
        ({"text": "Hi", "voice_id": "gina", "speed": 10}, 422, "invalid_request"),
        ({"text": "Hi"}, 400, "missing_voice"),
        ({"text": "Hi", "voice_id": "nobody"}, 404, "unknown_voice"),
        ({"text": "Hi", "voice_id": "gina", "language": "tlh"}, 400, "unsupported_language"),
        ({"text": "😀 🎉", "voice_id": "gina"}, 400, "nothing_to_say"),
    ]
    for body, status, code in cases:
        response = client.post("/generate", json=body, headers=AUTH)
        assert response.status_code == status, (body, response.text)
        assert response.json()["detail"]["code"] == code
        assert response.json()["detail"]["message"]


def test_long_text_without_punctuation_never_trips_xtts_limits(client_factory, voice_bytes):
    client = client_factory(xtts_fixed_tokens=2)
    put_voice(client, "hank", voice_bytes)
    text = " ".join(["word"] * 1500) + "".join(["x"] * 3000)
    response = client.post(
        "/generate", json={"text": text, "voice_id": "hank", "format": "pcm_24000"}, headers=AUTH
    )
    assert response.status_code == 200
    assert len(response.content) > 0


def test_unavailable_device_request_falls_back_and_ready_says_so(client_factory):
    import torch

    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS; the fallback note is for machines without it")
    ready = client_factory(device="mps").get("/ready", headers=AUTH).json()
    assert ready["device"] == "cpu" and ready["cloning_available"]
    assert "MPS" in ready["device_note"] and "CPU" in ready["device_note"]


def test_stock_voice_streams_at_24_khz(client_factory):
    client = client_factory(load_piper=True)
    stock = client.get("/stock-voices", headers=AUTH).json()
    assert stock and all(voice["voice_id"].startswith("stock-") for voice in stock)
    response = client.post(
        "/generate",
        json={"text": "Hello from the stock voice.", "voice_id": stock[0]["voice_id"]},
        headers=AUTH,
    )
    assert response.status_code == 200 and response.headers["X-Sample-Rate"] == "24000"
    assert struct_rate(response.content[:44]) == 24000
    assert 0.8 < wav_seconds(response.content) < 5.0
    unknown = client.post(
        "/generate", json={"text": "Hi.", "voice_id": "stock-nobody"}, headers=AUTH
    )
    assert unknown.status_code == 404


def struct_rate(header: bytes) -> int:
    import struct

    return struct.unpack("<I", header[24:28])[0]


@pytest.mark.parametrize(
    "language,text",
    [
        ("zh-cn", "你好，世界。今天天气很好。"),
        ("ja", "こんにちは、世界。"),
        ("ko", "안녕하세요."),
        ("de", "Guten Tag, 3 Äpfel."),
    ],
)
def test_non_latin_languages_generate(client_factory, voice_bytes, language, text):
    client = client_factory(xtts_fixed_tokens=4)
    put_voice(client, "ivy", voice_bytes)
    response = client.post(
        "/generate",
        json={"text": text, "voice_id": "ivy", "language": language, "format": "pcm_24000"},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    assert len(response.content) > 0


def test_conditioning_failure_is_a_clear_500_and_keeps_the_old_voice(
    client, voice_bytes, ljspeech_wavs
):
    assert put_voice(client, "jane", voice_bytes).status_code == 200
    services = client.app.state.services
    before = (services.settings.voices_dir / "jane.wav").read_bytes()
    original = services.xtts.model.get_gpt_cond_latents

    def broken(*args, **kwargs):
        raise RuntimeError("device lost")

    services.xtts.model.get_gpt_cond_latents = broken
    try:
        response = put_voice(client, "jane", ljspeech_wavs[3].read_bytes())
    finally:
        services.xtts.model.get_gpt_cond_latents = original
    assert response.status_code == 500
    assert response.json()["detail"]["code"] == "conditioning_failed"
    assert (services.settings.voices_dir / "jane.wav").read_bytes() == before
    generated = client.post(
        "/generate", json={"text": "Still here.", "voice_id": "jane"}, headers=AUTH
    )
    assert generated.status_code == 200


def _pcm_seconds(response) -> float:
    assert response.status_code == 200, response.text
    return len(response.content) / 2 / 24000


def test_demo_model_speaks_for_as_long_as_the_text_would_take(client_factory, voice_bytes):
    """Random weights never sample [STOP]: the demo model is sized to the speaking rate instead of
    running every sentence to XTTS's 28-second limit."""
    client = client_factory(xtts_fixed_tokens=None)
    put_voice(client, "rate", voice_bytes)

    def seconds(text: str) -> float:
        body = {"text": text, "voice_id": "rate", "format": "pcm_24000", "seed": 1}
        return _pcm_seconds(client.post("/generate", json=body, headers=AUTH))

    short, long = (
        seconds("A short line of text."),
        seconds("A much longer line of text, " * 3 + "read to the end."),
    )
    assert 0.8 < short < 3.5  # 21 characters at ~14 characters per second
    assert 2.5 < long / short < 5.5


def test_the_fast_cpu_option_quantises_and_overlaps_the_vocoder(client_factory, voice_bytes):
    from tests.test_streaming_server import expected_seconds

    client = client_factory(xtts_precision="int8", xtts_fixed_tokens=40)
    engine = client.app.state.services.xtts
    from ownvoice_ai.optimize import cpu_supports_bf16

    assert engine.tuning.overlap_vocoder
    # streams on half the cores per side; books on every core (README, Performance)
    assert engine.batch_threads == client.app.state.services.settings.torch_threads
    reported = client.get("/ready", headers=AUTH).json()["engines"]["xtts"]
    assert reported["int8"] is True
    assert reported["vocoder_dtype"] == ("bfloat16" if cpu_supports_bf16() else "float32")
    put_voice(client, "fast", voice_bytes)
    body = {"text": "Fast and small.", "voice_id": "fast", "format": "pcm_24000"}
    seconds = _pcm_seconds(client.post("/generate", json=body, headers=AUTH))
    assert seconds == pytest.approx(expected_seconds(40), abs=0.01)
