"""POST /generate/batch with verification on: every item heard by the bundled Whisper model, bad
takes rendered again (best of OWNVOICE_VERIFY_TAKES), word timings on the source text.

One in-process app (real lifespan: tiny random XTTS, real Piper) for the module."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter

import av
import pytest
from fastapi.testclient import TestClient

from ownvoice_ai.verify.check import source_words
from tests.conftest import AUTH, make_settings

TAKES = 2  # not the default 3: the setting is what counts
SENTENCES = [
    "The old house by the river was built in 1851.",
    "Reading aloud every evening helps children learn new words.",
]
OTHER_TEXT = "Alice was beginning to get very tired of sitting by her sister on the bank."


@pytest.fixture(scope="module")
def client(tiny_checkpoint, tmp_path_factory, ljspeech_wavs):
    from ownvoice_ai.main import create_app

    settings = make_settings(
        tmp_path_factory.mktemp("verify") / "data",
        load_piper=True,
        verify=True,
        verify_takes=TAKES,
    )
    with TestClient(create_app(settings)) as client:
        response = client.put("/voices/lj", content=ljspeech_wavs[0].read_bytes(), headers=AUTH)
        assert response.status_code == 200, response.text
        yield client


@pytest.fixture
def services(client):
    return client.app.state.services


def batch_items(client, body: dict) -> list[dict]:
    response = client.post("/generate/batch", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[-1] == {"type": "end"}, events[-1]
    items = sorted((e for e in events if e["type"] == "item"), key=lambda e: e["index"])
    assert [item["index"] for item in items] == list(range(len(body["texts"])))
    return items


def decoded_seconds(item: dict) -> float:
    with av.open(io.BytesIO(base64.b64decode(item["audio"]))) as container:
        frames = list(container.decode(audio=0))
    return sum(frame.samples for frame in frames) / frames[0].sample_rate


def test_piper_items_pass_on_the_first_take_with_word_timings(client) -> None:
    items = batch_items(client, {"texts": SENTENCES, "voice_id": "stock-joe"})
    for text, item in zip(SENTENCES, items, strict=True):
        verification = item["verification"]
        assert verification["checked"] and verification["passed"], verification
        assert verification["takes"] == 1 and verification["reasons"] == []
        assert verification["similarity"] is None  # a stock voice has no reference to compare
        words = item["words"]
        assert [w["word"] for w in words] == [w.text for w in source_words(text)]
        assert [text[w["offset"] : w["offset"] + len(w["word"])] for w in words] == [
            w["word"] for w in words
        ]
        edges = [edge for w in words for edge in (w["start"], w["end"])]
        assert edges == sorted(edges)
        assert edges[0] >= 0 and edges[-1] <= item["seconds"]
        # Piper draws its noise inside its ONNX graph (not seedable), and once in a clean-clone
        # run Whisper tiny missed one word of a passing take; that word is then timed between
        # its heard neighbours (monotonic, checked above). Every other word is heard.
        assert sum(not w["heard"] for w in words) <= 1, words
        assert decoded_seconds(item) == pytest.approx(item["seconds"], abs=0.05)
    year = next(w for w in items[0]["words"] if w["word"] == "1851")
    assert year["end"] - year["start"] > 0.3, year  # "eighteen fifty-one", about 0.75 s


def test_noise_from_the_tiny_xtts_fails_every_take_and_is_marked_failed(
    client, services, monkeypatch
) -> None:
    renders = []
    render_batch = services.xtts.render_batch

    def counted(chunks, voice, options):
        renders.append(options)
        return render_batch(chunks, voice, options)

    monkeypatch.setattr(services.xtts, "render_batch", counted)
    [item] = batch_items(client, {"texts": SENTENCES[:1], "voice_id": "lj", "seed": 7})
    verification = item["verification"]
    assert verification["checked"] and verification["passed"] is False
    assert verification["takes"] == TAKES == len(renders)
    assert verification["reasons"] and verification["cer"] > 0.5
    assert [options.seed for options in renders] == [7, 8]
    assert renders[1].temperature < renders[0].temperature
    assert item["seconds"] > 0 and len(item["words"]) == len(source_words(SENTENCES[0]))


class FirstTakeSaysOtherText:
    """The real Piper engine, except that each text's first take speaks OTHER_TEXT."""

    def __init__(self, piper) -> None:
        self._piper = piper
        self.takes: Counter[tuple[str, ...]] = Counter()

    def stream_chunks(self, chunks, voice, options):
        self.takes[tuple(chunks)] += 1
        if self.takes[tuple(chunks)] == 1:
            chunks = [OTHER_TEXT]
        return self._piper.stream_chunks(chunks, voice, options)

    def __getattr__(self, name):
        return getattr(self._piper, name)


def test_a_garbled_first_take_is_replaced_by_the_correct_second(
    client, services, monkeypatch
) -> None:
    garbling = FirstTakeSaysOtherText(services.piper)
    monkeypatch.setattr(services, "piper", garbling)
    [item] = batch_items(client, {"texts": SENTENCES[1:], "voice_id": "stock-joe"})
    verification = item["verification"]
    assert verification["passed"] and verification["takes"] == 2, verification
    assert list(garbling.takes.values()) == [2]
    assert verification["cer"] < 0.1
    assert all(w["heard"] for w in item["words"])


def test_a_language_the_recognizer_does_not_hear_is_marked_unchecked(client) -> None:
    [item] = batch_items(
        client, {"texts": ["Guten Morgen, wie geht es?"], "voice_id": "lj", "language": "de"}
    )
    assert item["verification"]["checked"] is False
    assert "OWNVOICE_ASR_MODEL" in item["verification"]["reasons"][0]
    assert "words" not in item


def test_live_generate_streams_without_hearing_anything(client, services, monkeypatch) -> None:
    """Listening never waits for recognition: with verification on, POST /generate's first
    audio (and all of it) leaves without the recognizer being asked anything (the app server
    hears a live sentence after it played)."""
    from ownvoice_ai.verify import asr

    recognizer = asr.recognizer()
    heard: list[float] = []
    real = recognizer.transcribe

    def counted(audio, sample_rate, language="en"):
        heard.append(len(audio) / sample_rate)
        return real(audio, sample_rate, language)

    monkeypatch.setattr(recognizer, "transcribe", counted)
    assert services.settings.verify
    for voice in ("lj", "stock-joe"):
        body = {"text": SENTENCES[0], "voice_id": voice, "language": "en", "format": "pcm_24000"}
        response = client.post("/generate", json=body, headers=AUTH)
        assert response.status_code == 200 and len(response.content) > 24000, response.text
        assert heard == [], voice  # none before the first audio, nor after it
    # The recognizer counted here is the one the batch path uses: a batch item is heard.
    batch_items(client, {"texts": SENTENCES[:1], "voice_id": "stock-joe"})
    assert heard
