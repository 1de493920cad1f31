"""The ElevenLabs- and OpenAI-compatible APIs, driven by the official Python SDKs pointed at
the real app server (base URL and key only), with the real inference service behind it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest
from audio_files import CLEAN_WAV, decode
from conftest import create_user
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError
from servers import REPO_DIR, AppServer


@pytest.fixture(scope="module")
def api_key(stack: AppServer) -> str:
    """A fresh user's API key, so these tests see only their own voices."""
    with create_user(stack, f"sdk-{uuid.uuid4().hex[:6]}") as client:
        return client.post("/api/keys", json={"name": "sdk tests"}).json()["key"]


@pytest.fixture(scope="module")
def eleven(stack: AppServer, api_key: str) -> ElevenLabs:
    return ElevenLabs(api_key=api_key, base_url=stack.url)


@pytest.fixture(scope="module")
def cloned_voice_id(eleven: ElevenLabs) -> Iterator[str]:
    with CLEAN_WAV.open("rb") as sample:
        created = eleven.voices.ivc.create(name="SDK clone", files=[sample])
    assert created.requires_verification is False
    yield created.voice_id


def test_voices_search_and_get_all_list_clones_and_stock(
    eleven: ElevenLabs, cloned_voice_id: str
) -> None:
    found = eleven.voices.search()
    ids = {voice.voice_id: voice for voice in found.voices}
    assert cloned_voice_id in ids and ids[cloned_voice_id].name == "SDK clone"
    assert ids[cloned_voice_id].category == "cloned"
    assert "stock-joe" in ids and ids["stock-joe"].category == "premade"
    assert found.total_count == len(found.voices) and found.has_more is False
    assert {v.voice_id for v in eleven.voices.get_all().voices} == set(ids)
    assert eleven.voices.search(search="sdk clone").total_count == 1
    page = eleven.voices.search(page_size=1)
    assert len(page.voices) == 1 and page.has_more is True and page.next_page_token


def test_models_list_names_the_local_engines(eleven: ElevenLabs) -> None:
    models = eleven.models.list()
    assert {m.name for m in models} == {"Ownvoice xtts", "Ownvoice piper"}
    assert all(m.can_do_text_to_speech for m in models)


def test_get_one_voice(eleven: ElevenLabs, cloned_voice_id: str) -> None:
    assert eleven.voices.get(cloned_voice_id).name == "SDK clone"
    with pytest.raises(ApiError) as error:
        eleven.voices.get("no-such-voice")
    assert error.value.status_code == 404
    assert error.value.body["detail"]["status"] == "voice_not_found"


@pytest.mark.parametrize(
    ("output_format", "rate"),
    [
        ("pcm_16000", 16000),
        ("pcm_22050", 22050),
        ("pcm_24000", 24000),
        ("pcm_44100", 44100),
    ],
)
def test_convert_pcm_formats_have_the_right_rate(
    eleven: ElevenLabs, cloned_voice_id: str, output_format: str, rate: int
) -> None:
    # The clone on the tiny model has a fixed token count per sentence, so its duration is
    # the same on every run: a resampled answer must last as long as the 24 kHz original.
    text = "Counting the samples of this sentence."
    audio = b"".join(
        eleven.text_to_speech.convert(cloned_voice_id, text=text, output_format=output_format)
    )
    reference = b"".join(
        eleven.text_to_speech.convert(cloned_voice_id, text=text, output_format="pcm_24000")
    )
    seconds, reference_seconds = len(audio) / 2 / rate, len(reference) / 2 / 24000
    assert len(audio) % 2 == 0 and abs(seconds - reference_seconds) < 0.02


@pytest.mark.parametrize(
    ("output_format", "rate"), [("mp3_44100_128", 44100), ("mp3_22050_32", 22050)]
)
def test_convert_mp3_formats_decode_at_their_rate(
    eleven: ElevenLabs, cloned_voice_id: str, output_format: str, rate: int
) -> None:
    audio = b"".join(
        eleven.text_to_speech.convert(
            cloned_voice_id,
            text="My own voice, as an MP3.",
            output_format=output_format,
            model_id="eleven_multilingual_v2",
            voice_settings={"stability": 0.5, "similarity_boost": 0.75, "speed": 1.0},
        )
    )
    decoded_rate, seconds = decode(audio)
    assert decoded_rate == rate and seconds > 0.3


def test_stream_yields_audio_in_chunks(eleven: ElevenLabs, cloned_voice_id: str) -> None:
    chunks = list(
        eleven.text_to_speech.stream(
            cloned_voice_id,
            text="Streaming one sentence. And then another one.",
            output_format="pcm_24000",
        )
    )
    assert len(chunks) >= 2 and sum(len(c) for c in chunks) > 24000


def test_unsupported_output_format_is_an_elevenlabs_shaped_error(eleven: ElevenLabs) -> None:
    with pytest.raises(ApiError) as error:
        b"".join(eleven.text_to_speech.convert("stock-joe", text="x", output_format="ulaw_8000"))
    assert error.value.status_code == 422
    assert error.value.body["detail"]["status"] == "invalid_output_format"
    assert "pcm_16000" in error.value.body["detail"]["message"]


def test_wrong_key_is_401_invalid_api_key(stack: AppServer) -> None:
    with pytest.raises(ApiError) as error:
        ElevenLabs(api_key="ov_wrong", base_url=stack.url).voices.search()
    assert error.value.status_code == 401
    assert error.value.body["detail"]["status"] == "invalid_api_key"
    raw = httpx.post(f"{stack.url}/v1/text-to-speech/stock-joe", json={"text": "x"})
    assert raw.status_code == 401 and raw.json()["detail"]["status"] == "invalid_api_key"


def test_validation_errors_are_elevenlabs_shaped(stack: AppServer, api_key: str) -> None:
    raw = httpx.post(
        f"{stack.url}/v1/text-to-speech/stock-joe",
        json={"model_id": "x"},
        headers={"xi-api-key": api_key},
    )
    assert raw.status_code == 422
    assert raw.json()["detail"]["status"] == "invalid_request"
    assert "text" in raw.json()["detail"]["message"]


def test_add_rejects_non_audio_and_delete_removes(eleven: ElevenLabs, stack: AppServer) -> None:
    with pytest.raises(ApiError) as error:
        eleven.voices.ivc.create(name="text", files=[("notes.wav", b"plain text " * 100)])
    assert error.value.status_code == 415
    with CLEAN_WAV.open("rb") as sample:
        voice_id = eleven.voices.ivc.create(name="Temporary", files=[sample]).voice_id
    assert eleven.voices.delete(voice_id).status == "ok"
    with pytest.raises(ApiError) as gone:
        eleven.voices.get(voice_id)
    assert gone.value.status_code == 404


# --- OpenAI ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oai(stack: AppServer, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=api_key, base_url=f"{stack.url}/v1")


@pytest.mark.parametrize(
    ("response_format", "rate"),
    [
        ("mp3", 24000),
        ("wav", 24000),
        ("opus", None),
        ("aac", 24000),
        ("flac", 24000),
    ],
)
def test_openai_speech_formats(
    oai: openai.OpenAI, cloned_voice_id: str, response_format: str, rate: int | None
) -> None:
    response = oai.audio.speech.create(
        model="tts-1",
        voice=cloned_voice_id,
        input="Hello from the OpenAI client.",
        response_format=response_format,
    )
    decoded_rate, seconds = decode(response.content)
    assert seconds > 0.3
    if rate:
        assert decoded_rate == rate


def test_openai_pcm_is_24khz_s16le(oai: openai.OpenAI) -> None:
    response = oai.audio.speech.create(
        model="tts-1", voice="stock-joe", input="Raw pcm.", response_format="pcm"
    )
    assert len(response.content) % 2 == 0 and len(response.content) > 12000


def test_openai_builtin_voice_names_mean_my_voice(
    oai: openai.OpenAI, cloned_voice_id: str, stack: AppServer, api_key: str
) -> None:
    text = "Alloy is me."
    with oai.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=text, response_format="wav"
    ) as response:
        audio = response.read()
    # The same request for the user's default voice is now a cache hit with the same bytes.
    default = httpx.post(
        f"{stack.url}/api/tts",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"text": text, "voiceId": "custom_user_voice", "format": "wav"},
    )
    assert default.headers["x-cache"] == "hit" and default.content == audio


def test_openai_errors_are_openai_shaped(stack: AppServer, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="ov_wrong", base_url=f"{stack.url}/v1").audio.speech.create(
            model="tts-1", voice="alloy", input="x"
        )
    with pytest.raises(openai.BadRequestError) as unknown:
        oai.audio.speech.create(model="tts-1", voice="f" * 32, input="x")
    assert "ELEVENLABS_API_KEY" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        oai.audio.speech.create(model="tts-1", voice="alloy", input="x", speed=3.0)
    assert bad.value.body["type"] == "invalid_request_error"


# --- the account, and speech with character timings (issue 15, item 6) -------------------


def test_user_and_subscription_answer_for_the_keys_account(
    stack: AppServer, api_key: str, eleven: ElevenLabs, cloned_voice_id: str
) -> None:
    me = httpx.get(f"{stack.url}/api/auth/me", headers={"Authorization": f"Bearer {api_key}"})
    raw = httpx.get(f"{stack.url}/v1/user", headers={"xi-api-key": api_key})
    assert raw.status_code == 200 and raw.json()["user_id"] == me.json()["id"]
    raw_subscription = httpx.get(
        f"{stack.url}/v1/user/subscription", headers={"xi-api-key": api_key}
    )
    assert raw_subscription.status_code == 200
    assert raw_subscription.json() == raw.json()["subscription"]
    user = eleven.user.get()
    assert user.user_id == me.json()["id"] and user.first_name == me.json()["username"]
    subscription = eleven.user.subscription.get()
    assert subscription.character_limit == 2**31 - 1 and subscription.character_count == 0
    assert subscription.voice_slots_used == 1 and subscription.status == "active"
    wrong = httpx.get(f"{stack.url}/v1/user", headers={"xi-api-key": "ov_wrong"})
    assert wrong.status_code == 401 and wrong.json()["detail"]["status"] == "invalid_api_key"


TIMED_TEXT = "The lighthouse stood on the cliff.  Maya counted 243 steps!"


def assert_timed(characters: list[str], starts: list[float], ends: list[float], seconds: float):
    assert "".join(characters) == TIMED_TEXT
    assert len(starts) == len(ends) == len(TIMED_TEXT)
    assert all(a <= b for a, b in zip(starts, ends, strict=True))
    assert all(b <= a + 1e-3 for a, b in zip(starts[1:], ends, strict=False))  # never back
    assert starts[0] >= 0 and ends[-1] <= seconds + 0.01
    # Each sentence's words are heard in its own half of the audio.
    second = TIMED_TEXT.index("Maya")
    assert ends[second - 3] < starts[second] < ends[-1] and starts[second] > 1.0


def test_convert_with_timestamps_spells_the_text_with_times(eleven: ElevenLabs) -> None:
    answer = eleven.text_to_speech.convert_with_timestamps(
        "stock-joe", text=TIMED_TEXT, output_format="pcm_24000"
    )
    audio = base64.b64decode(answer.audio_base_64)
    seconds = len(audio) / 2 / 24000
    alignment = answer.alignment
    assert alignment is not None and answer.normalized_alignment is not None
    assert_timed(
        alignment.characters,
        alignment.character_start_times_seconds,
        alignment.character_end_times_seconds,
        seconds,
    )


JS_SDK_CHECK = REPO_DIR / "frontend" / "sdk-checks" / "elevenlabs-timestamps.mjs"


def test_js_sdk_convert_with_timestamps_spells_the_text_with_times(
    stack: AppServer, api_key: str
) -> None:
    """The official JavaScript SDK (@elevenlabs/elevenlabs-js, the web app's devDependency),
    run by node against the app server over HTTP."""
    done = subprocess.run(
        ["node", str(JS_SDK_CHECK), "stock-joe", "pcm_24000", TIMED_TEXT],
        cwd=JS_SDK_CHECK.parent,
        env={**os.environ, "OWNVOICE_URL": stack.url, "OWNVOICE_KEY": api_key},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["normalized"] == answer["characters"]
    assert_timed(
        answer["characters"], answer["starts"], answer["ends"], answer["audioBytes"] / 48000
    )


def test_stream_with_timestamps_sends_a_chunk_per_sentence(eleven: ElevenLabs) -> None:
    chunks = list(
        eleven.text_to_speech.stream_with_timestamps(
            "stock-joe", text=TIMED_TEXT, output_format="mp3_44100_128"
        )
    )
    assert len(chunks) == 2
    audio = b"".join(base64.b64decode(chunk.audio_base_64) for chunk in chunks)
    rate, seconds = decode(audio)
    assert rate == 44100
    assert_timed(
        [c for chunk in chunks for c in chunk.alignment.characters],
        [t for chunk in chunks for t in chunk.alignment.character_start_times_seconds],
        [t for chunk in chunks for t in chunk.alignment.character_end_times_seconds],
        seconds + 0.1,  # the MP3 encoder pads its last frame
    )
