"""POST /generate/batch over real HTTP (uvicorn subprocess, tiny XTTS, real Piper): NDJSON events,
whole decodable files per text, errors before the stream, stock voices, disconnects."""

from __future__ import annotations

import base64
import io
import json

import av
import httpx
import pytest

from tests.conftest import AUTH
from tests.test_streaming_server import (
    CHUNK_TOKENS,
    expected_seconds,
    wait_until,
)

FIXED_TOKENS = 24
THREE_TEXTS = [
    "The first text is one sentence.",
    "The second text has two sentences. This is the other one.",
    "Third.",
]
SENTENCES = [1, 2, 1]


@pytest.fixture(scope="module")
def server(live_server_factory, ljspeech_wavs):
    server = live_server_factory(
        OWNVOICE_XTTS_FIXED_TOKENS=str(FIXED_TOKENS),
        OWNVOICE_LOAD_PIPER="1",
        OWNVOICE_QUEUE_SIZE="4",
    )
    put_voice(server, "lj", ljspeech_wavs[0])
    return server


def put_voice(server, voice_id, path) -> dict:
    response = httpx.put(
        f"{server.url}/voices/{voice_id}", content=path.read_bytes(), headers=AUTH, timeout=120
    )
    assert response.status_code == 200, response.text
    return response.json()


def post_batch(server, body: dict, timeout: float = 300) -> httpx.Response:
    return httpx.post(f"{server.url}/generate/batch", json=body, headers=AUTH, timeout=timeout)


def events_of(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def items_by_index(events: list[dict]) -> dict[int, dict]:
    items = [event for event in events if event["type"] == "item"]
    by_index = {item["index"]: item for item in items}
    assert len(by_index) == len(items), "an index came twice"
    return by_index


def decoded(audio_b64: str) -> tuple[int, float]:
    """(sample rate, seconds) of a whole encoded file, decoded by FFmpeg."""
    with av.open(io.BytesIO(base64.b64decode(audio_b64))) as container:
        samples = rate = 0
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    return rate, samples / rate


@pytest.mark.parametrize("fmt,media_type", [("wav", "audio/wav"), ("mp3", "audio/mpeg")])
def test_a_batch_of_three_is_start_three_whole_files_then_end(server, fmt, media_type):
    events = events_of(
        post_batch(server, {"texts": THREE_TEXTS, "voice_id": "lj", "format": fmt, "seed": 5})
    )
    start, end = events[0], events[-1]
    ready = server.ready()
    assert start == {
        "type": "start",
        "count": 3,
        "model_id": ready["model_id"],
        "conditioning_hash": start["conditioning_hash"],
        "sample_rate": 24000,
        "media_type": media_type,
    }
    assert len(start["conditioning_hash"]) == 32
    assert end == {"type": "end"}
    assert {event["type"] for event in events[1:-1]} <= {"item", "progress"}
    items = items_by_index(events)
    assert sorted(items) == [0, 1, 2]
    for index, item in items.items():
        # every sentence is FIXED_TOKENS long: a text's chunks are all there, joined
        assert item["seconds"] == pytest.approx(
            expected_seconds(FIXED_TOKENS, SENTENCES[index]), abs=0.05
        )
        rate, seconds = decoded(item["audio"])
        assert rate == 24000
        assert seconds == pytest.approx(item["seconds"], abs=0.08)


def test_the_batch_speaks_with_the_same_voice_hash_as_generate(server):
    generated = httpx.post(
        f"{server.url}/generate",
        json={"text": "Hello.", "voice_id": "lj"},
        headers=AUTH,
        timeout=120,
    )
    start = events_of(post_batch(server, {"texts": ["Hello."], "voice_id": "lj"}))[0]
    assert start["conditioning_hash"] == generated.headers["X-Conditioning-Hash"]
    assert start["model_id"] == generated.headers["X-Model-Id"]


def test_a_stock_voice_batch_is_rendered_text_by_text(server):
    texts = ["Good morning.", "This sentence is a good deal longer than the first one was."]
    events = events_of(
        post_batch(server, {"texts": texts, "voice_id": "stock-joe", "format": "mp3"})
    )
    assert events[0]["type"] == "start" and events[0]["model_id"].startswith("piper:")
    assert events[0]["media_type"] == "audio/mpeg"
    assert events[-1] == {"type": "end"}
    items = items_by_index(events)
    assert [event["index"] for event in events if event["type"] == "item"] == [
        0,
        1,
    ]  # one after another
    durations = []
    for item in items.values():
        rate, seconds = decoded(item["audio"])
        assert rate == 24000
        assert seconds == pytest.approx(item["seconds"], abs=0.08)
        durations.append(seconds)
    assert 0.4 < durations[0] < 3 and durations[1] > 1.5 * durations[0]


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"texts": ["Hi."], "voice_id": "nobody"}, 404, "unknown_voice"),
        ({"texts": ["Hi."], "voice_id": "stock-nobody"}, 404, "unknown_voice"),
        ({"texts": [], "voice_id": "lj"}, 422, "invalid_request"),
        ({"texts": ["Hi."] * 33, "voice_id": "lj"}, 422, "invalid_request"),
        ({"texts": ["Hi.", ""], "voice_id": "lj"}, 422, "invalid_request"),
        ({"texts": ["a" * 5001], "voice_id": "lj"}, 422, "invalid_request"),
        ({"texts": ["Hi."]}, 422, "invalid_request"),
        ({"texts": ["Hi."], "voice_id": "lj", "format": "flac"}, 422, "invalid_request"),
        ({"texts": ["Hi."], "voice_id": "lj", "language": "tlh"}, 400, "unsupported_language"),
        ({"texts": ["Hi.", "😀 🎉"], "voice_id": "lj"}, 400, "nothing_to_say"),
        ({"texts": ["Hi.", "😀 🎉"], "voice_id": "stock-joe"}, 400, "nothing_to_say"),
    ],
)
def test_bad_batches_fail_before_the_stream_like_generate(server, body, status, code):
    response = post_batch(server, body, timeout=60)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["code"] == code and detail["message"]
    if code == "nothing_to_say":
        assert "texts[1]" in detail["message"]  # which text to fix


def test_32_texts_of_5000_characters_are_accepted(server):
    # validated, split and queued; cancelled right after the start event to keep the test short
    body = {"texts": [("A sentence of some length. " * 200)[:5000]] * 32, "voice_id": "lj"}
    with httpx.stream(
        "POST", f"{server.url}/generate/batch", json=body, headers=AUTH, timeout=300
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert json.loads(next(lines))["count"] == 32
    wait_until(lambda: not server.ready()["worker"]["busy"], timeout_s=30)


def test_the_token_is_required(server):
    response = httpx.post(
        f"{server.url}/generate/batch", json={"texts": ["Hi."], "voice_id": "lj"}, timeout=30
    )
    assert response.status_code == 401


def test_disconnect_mid_batch_cancels_it(live_server_factory, ljspeech_wavs):
    server = live_server_factory(OWNVOICE_XTTS_FIXED_TOKENS="600", **CHUNK_TOKENS)
    put_voice(server, "lj", ljspeech_wavs[0])
    before = server.ready()["worker"]
    body = {
        "texts": ["One long sentence.", "Another long sentence.", "And a third."],
        "voice_id": "lj",
    }
    with httpx.stream(
        "POST", f"{server.url}/generate/batch", json=body, headers=AUTH, timeout=120
    ) as response:
        lines = response.iter_lines()  # keep a reference: a dropped iterator closes the response
        assert json.loads(next(lines))["type"] == "start"
        assert server.ready()["worker"]["busy"]
    # the client is gone: the batch is cancelled, not run to its end
    wait_until(lambda: not server.ready()["worker"]["busy"], timeout_s=60)
    after = server.ready()["worker"]
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["completed"] == before["completed"]  # it did not run to the end


def with_limits(server, live_server_factory, **env: str):
    """A second server on `server`'s data directory (its voice "lj" computed already), started
    with `env`: a short stall limit there applies to generation only, not to computing a voice."""
    return live_server_factory(data_dir=server.data_dir, **env)


def test_a_batch_longer_than_the_stall_limit_runs_to_the_end(server, live_server_factory):
    """Every finished chunk restarts the stall clock, even when it completes no text yet.

    One text of six sentences: no item for all of it, yet each chunk is well within the limit (15 s,
    for loaded machines; the rule itself is tested on an injected clock in test_worker.py).
    """
    server = with_limits(
        server,
        live_server_factory,
        OWNVOICE_XTTS_FIXED_TOKENS=str(FIXED_TOKENS),
        OWNVOICE_GENERATION_TIMEOUT_S="15",
    )
    texts = [" ".join(f"Sentence number {n} is here." for n in range(1, 7)), "A short one."]
    events = events_of(
        post_batch(server, {"texts": texts, "voice_id": "lj", "format": "pcm_24000"})
    )
    assert events[-1] == {"type": "end"}, events[-1]
    items = items_by_index(events)
    assert items[0]["seconds"] == pytest.approx(expected_seconds(FIXED_TOKENS, 6), abs=0.05)
    assert len(base64.b64decode(items[0]["audio"])) == round(items[0]["seconds"] * 24000) * 2
    progress = [event["tokens"] for event in events if event["type"] == "progress"]
    assert progress == sorted(progress) and all(tokens > 0 for tokens in progress)
    assert server.ready()["worker"]["timed_out"] == 0


def test_a_stalled_batch_ends_with_an_error_event(server, live_server_factory):
    """The status is sent before generation: a stall after that is reported in-band, then the stream ends.

    The stall limit (50 ms) is shorter than the gap between two of the batch's heartbeats
    (engines.xtts.PROGRESS_EVERY_S, 250 ms), so the batch stalls before its first heartbeat on
    any machine, however fast or loaded: two texts of 200 tokens take far longer than 50 ms."""
    server = with_limits(
        server,
        live_server_factory,
        OWNVOICE_XTTS_FIXED_TOKENS="200",
        OWNVOICE_GENERATION_TIMEOUT_S="0.05",
    )
    events = events_of(
        post_batch(server, {"texts": ["Too long to finish.", "Me too."], "voice_id": "lj"})
    )
    assert events[0]["type"] == "start"
    assert events[-1]["type"] == "error" and events[-1]["code"] == "generation_timeout"
    assert events[-1]["message"]
    assert not any(event["type"] in ("item", "end") for event in events)
    wait_until(lambda: server.ready()["worker"]["timed_out"] == 1, timeout_s=90)
    assert server.ready()["worker"]["completed"] == 0
