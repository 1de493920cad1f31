"""/generate over real HTTP (uvicorn subprocess): streaming, formats, disconnects, queue, isolation."""

from __future__ import annotations

import io
import threading
import time

import av
import httpx
import numpy as np
import pytest

from tests.conftest import AUTH

CHUNK_TOKENS = {"OWNVOICE_FIRST_CHUNK_TOKENS": "8", "OWNVOICE_CHUNK_TOKENS": "16"}


@pytest.fixture(scope="module")
def server(live_server_factory, ljspeech_wavs, librispeech_speakers):
    server = live_server_factory(
        OWNVOICE_XTTS_FIXED_TOKENS="64", OWNVOICE_QUEUE_SIZE="4", **CHUNK_TOKENS
    )
    for voice_id, path in [("lj", ljspeech_wavs[0]), ("other", ljspeech_wavs[2])]:
        response = httpx.put(
            f"{server.url}/voices/{voice_id}", content=path.read_bytes(), headers=AUTH, timeout=120
        )
        assert response.status_code == 200, response.text
    return server


def expected_seconds(tokens: int, sentences: int = 1) -> float:
    from ownvoice_ai.engines.xtts_vocoder import FramePlan

    plan = FramePlan([4.0, 24000 / 22050])
    plan.resize(tokens)
    return sentences * plan.n_frames * 256 / 24000


def stream_chunks(server, body: dict) -> list[bytes]:
    with httpx.stream(
        "POST", f"{server.url}/generate", json=body, headers=AUTH, timeout=120
    ) as response:
        assert response.status_code == 200, response.read()
        return list(response.iter_raw())


def test_chunks_arrive_in_several_pieces_in_order(server):
    """That the first piece arrives while the rest is still being made is shown without a stopwatch
    by test_disconnect_stops_generation: after the first piece the worker is still busy."""
    text = "The first sentence is here. A second one follows it. And a third ends the paragraph."
    parts = stream_chunks(
        server, {"text": text, "voice_id": "lj", "format": "pcm_24000", "seed": 3}
    )
    assert len(parts) >= 6
    assert sum(len(part) for part in parts) == pytest.approx(
        expected_seconds(64, 3) * 24000 * 2, abs=4
    )
    # in order: the same seed gives the same bytes as one piece (nothing reordered or dropped)
    whole = httpx.post(
        f"{server.url}/generate",
        json={"text": text, "voice_id": "lj", "format": "pcm_24000", "seed": 3},
        headers=AUTH,
        timeout=120,
    ).content
    assert b"".join(parts) == whole


@pytest.mark.parametrize(
    "fmt,rate", [("wav", 24000), ("pcm_24000", 24000), ("mp3", 24000), ("opus", 48000)]
)
def test_each_format_decodes_to_rate_and_duration(server, fmt, rate):
    response = httpx.post(
        f"{server.url}/generate",
        json={"text": "Just one sentence.", "voice_id": "lj", "format": fmt, "seed": 1},
        headers=AUTH,
        timeout=120,
    )
    assert response.status_code == 200
    assert response.headers["X-Sample-Rate"] == "24000"
    assert response.headers["content-type"].startswith(
        {"wav": "audio/wav", "pcm_24000": "audio/L16", "mp3": "audio/mpeg", "opus": "audio/ogg"}[
            fmt
        ]
    )
    if fmt == "pcm_24000":
        container = av.open(
            io.BytesIO(response.content),
            format="s16le",
            options={"sample_rate": "24000", "ch_layout": "mono"},
        )
    else:
        container = av.open(io.BytesIO(response.content))
    samples = decoded_rate = 0
    with container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            decoded_rate = frame.sample_rate
    assert decoded_rate == rate
    assert samples / rate == pytest.approx(expected_seconds(64), abs=0.08)


def wait_until(predicate, timeout_s: float) -> None:
    """Poll for a condition, failing after `timeout_s` (a deadline, not a measurement)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def server_with_voice(server, live_server_factory, **env: str):
    """A second server on the module server's data directory, started with `env`: it has the
    voices "lj" and "other" already (computed with the default limits, so a short stall limit in
    `env` applies to generation only, not to computing a voice, which on a loaded machine can
    itself take longer than a second or three)."""
    return live_server_factory(data_dir=server.data_dir, **env)


def test_disconnect_stops_generation(server, live_server_factory):
    server = server_with_voice(
        server, live_server_factory, OWNVOICE_XTTS_FIXED_TOKENS="600", **CHUNK_TOKENS
    )
    before = server.ready()["worker"]
    with httpx.stream(
        "POST",
        f"{server.url}/generate",
        json={"text": "A long sentence to say.", "voice_id": "lj"},
        headers=AUTH,
        timeout=120,
    ) as response:
        chunks = response.iter_raw()  # keep a reference: a dropped iterator closes the response
        next(chunks)  # audio is flowing
        state = server.ready()["worker"]
        assert state["busy"], str(state)
    # the client is gone: the job is cancelled, not run to its end
    wait_until(lambda: not server.ready()["worker"]["busy"], timeout_s=60)
    after = server.ready()["worker"]
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["completed"] == before["completed"]  # it did not run to the end


def test_full_queue_gets_429_with_retry_after(server, live_server_factory):
    server = server_with_voice(
        server,
        live_server_factory,
        OWNVOICE_XTTS_FIXED_TOKENS="400",
        OWNVOICE_QUEUE_SIZE="0",
        **CHUNK_TOKENS,
    )
    with httpx.stream(
        "POST",
        f"{server.url}/generate",
        json={"text": "Busy now.", "voice_id": "lj"},
        headers=AUTH,
        timeout=120,
    ) as busy:
        chunks = busy.iter_raw()
        next(chunks)
        refused = httpx.post(
            f"{server.url}/generate",
            json={"text": "Me too.", "voice_id": "lj"},
            headers=AUTH,
            timeout=30,
        )
        assert refused.status_code == 429
        assert refused.headers["Retry-After"].isdigit()
        assert refused.json()["detail"]["code"] == "busy"
    wait_until(lambda: not server.ready()["worker"]["busy"], timeout_s=10)
    # taken again: audio flows (its first chunk is enough; the rest would be 400 tokens more)
    with httpx.stream(
        "POST",
        f"{server.url}/generate",
        json={"text": "Now.", "voice_id": "lj", "format": "pcm_24000"},
        headers=AUTH,
        timeout=120,
    ) as again:
        assert again.status_code == 200
        assert len(next(again.iter_raw())) > 0


def test_stuck_generation_times_out(server, live_server_factory):
    """No audio for longer than the stall limit: the request ends and the worker counts a timeout.

    One 200-token chunk makes the engine go quiet for seconds (200 GPT steps, then vocoding 9 s of
    audio at once, before any audio: about 12 s on a 2-core CPU, 4 s on a fast one), as a hung
    accelerator would; a 1 s stall limit must cut it off. (The stall rule itself is tested on an
    injected clock in test_worker.py.)
    """
    server = server_with_voice(
        server,
        live_server_factory,
        OWNVOICE_XTTS_FIXED_TOKENS="200",
        OWNVOICE_GENERATION_TIMEOUT_S="1",
        OWNVOICE_FIRST_CHUNK_TOKENS="200",
        OWNVOICE_CHUNK_TOKENS="200",
    )
    # The stream is cut off, not ended: a client (and the backend's cache) can tell it from a whole answer.
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            f"{server.url}/generate",
            json={"text": "Too long to finish.", "voice_id": "lj", "format": "pcm_24000"},
            headers=AUTH,
            timeout=120,
        )
    wait_until(lambda: server.ready()["worker"]["timed_out"] == 1, timeout_s=90)
    assert server.ready()["worker"]["completed"] == 0


def test_steady_progress_is_not_a_timeout(server, live_server_factory):
    """A generation that keeps producing audio runs to the end, with the stall limit in force.

    The rule (each chunk restarts the clock) is tested on an injected clock in test_worker.py; here
    the limit is 15 s, above what one 16-token chunk takes even on a heavily loaded machine (3 s was
    not: at a load average of 15 on 2 cores a chunk took longer)."""
    server = server_with_voice(
        server,
        live_server_factory,
        OWNVOICE_XTTS_FIXED_TOKENS="48",
        OWNVOICE_GENERATION_TIMEOUT_S="15",
        **CHUNK_TOKENS,
    )
    text = " ".join(f"Sentence number {n} is here." for n in range(1, 7))
    response = httpx.post(
        f"{server.url}/generate",
        json={"text": text, "voice_id": "lj", "format": "pcm_24000"},
        headers=AUTH,
        timeout=300,
    )
    assert len(response.content) == pytest.approx(expected_seconds(48, 6) * 24000 * 2, abs=12)
    assert server.ready()["worker"]["timed_out"] == 0


def test_concurrent_requests_never_mix_audio(server):
    bodies = {
        "a": {"text": "Voice one speaking.", "voice_id": "lj", "format": "pcm_24000", "seed": 11},
        "b": {
            "text": "Voice two speaking.",
            "voice_id": "other",
            "format": "pcm_24000",
            "seed": 22,
        },
    }
    solo = {
        key: httpx.post(f"{server.url}/generate", json=body, headers=AUTH, timeout=120).content
        for key, body in bodies.items()
    }
    assert solo["a"] != solo["b"]
    results: dict[str, bytes] = {}

    def fetch(key: str) -> None:
        results[key] = httpx.post(
            f"{server.url}/generate", json=bodies[key], headers=AUTH, timeout=120
        ).content

    threads = [threading.Thread(target=fetch, args=(key,)) for key in ["a", "b", "a", "b"][:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Concurrent streams decode as rows of one GPT batch (engines/xtts_listeners.py), whose float
    # rounding may move a 16-bit sample by one step; mixed audio would be far from its solo run.
    for key, other in (("a", "b"), ("b", "a")):
        got, own, others = _pcm(results[key]), _pcm(solo[key]), _pcm(solo[other])
        assert len(got) == len(own) > 0
        assert np.abs(got - own).max() <= 1
        shared = min(len(got), len(others))
        assert np.abs(got[:shared] - others[:shared]).max() > 100


def _pcm(body: bytes) -> np.ndarray:
    return np.frombuffer(body, dtype="<i2").astype(int)
