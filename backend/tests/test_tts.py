"""POST /api/tts against the real inference service: routing, formats, streaming, cache."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from audio_files import decode
from conftest import create_user, create_user_with_voice
from servers import AppServer, inference_token

from app.services.audio_cache import RESCAN_SHARE, AudioCache, cache_key
from app.services.speech import _tee


@pytest.fixture(scope="module")
def speaker(stack: AppServer) -> httpx.Client:
    return create_user_with_voice(stack, f"speaker-{uuid.uuid4().hex[:6]}")


@pytest.mark.parametrize("voice", ["stock-joe", "custom_user_voice"])
@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus"])
def test_each_format_decodes_at_24_khz(speaker: httpx.Client, voice: str, fmt: str) -> None:
    text = f"The quick brown fox jumps over the lazy dog, in {fmt}."
    response = speaker.post("/api/tts", json={"text": text, "voiceId": voice, "format": fmt})
    assert response.status_code == 200, response.text
    rate, seconds = decode(response.content)
    assert rate in (24000, 48000) if fmt == "opus" else rate == 24000
    assert 0.3 < seconds < 30


def test_pcm_is_raw_24khz_s16le(speaker: httpx.Client) -> None:
    response = speaker.post(
        "/api/tts",
        json={"text": "Raw samples, please.", "voiceId": "stock-joe", "format": "pcm_24000"},
    )
    assert response.status_code == 200
    assert response.headers["x-sample-rate"] == "24000"
    assert len(response.content) % 2 == 0 and len(response.content) > 24000  # > 0.5 s


def test_stock_speech_has_a_plausible_length(speaker: httpx.Client) -> None:
    short = speaker.post("/api/tts", json={"text": "Hi.", "voiceId": "stock-joe", "format": "wav"})
    long = speaker.post(
        "/api/tts",
        json={
            "text": "This is a considerably longer sentence, which should take a good deal more "
            "time to say out loud than a simple greeting does.",
            "voiceId": "stock-joe",
            "format": "wav",
        },
    )
    assert decode(long.content)[1] > 3 * decode(short.content)[1]


def inference_worker(stack: AppServer) -> dict:
    """The inference service's worker counters (GET /ready), as the app server's token sees them."""
    token = inference_token(stack.data_dir)
    return httpx.get(
        f"{stack.env['OWNVOICE_INFERENCE_URL']}/ready",
        headers={"Authorization": f"Bearer {token}"},
    ).json()["worker"]


def test_audio_streams_in_several_chunks(speaker: httpx.Client) -> None:
    """Streamed in pieces as they are made. That the first piece arrives while the rest is still
    being generated is shown without a stopwatch by the walk-away test below: a client that
    leaves after the first piece cancels the job (it had not completed)."""
    text = " ".join(f"Sentence number {n} of a paragraph that is read aloud." for n in range(6))
    with speaker.stream(
        "POST",
        "/api/tts",
        json={"text": text, "voiceId": "custom_user_voice", "format": "pcm_24000"},
    ) as response:
        assert response.headers["x-cache"] == "miss"
        assert "content-length" not in response.headers  # streamed, not buffered
        chunks = list(response.iter_raw())
    assert len(chunks) >= 3


def test_a_repeat_is_answered_from_the_cache_with_the_same_bytes(
    speaker: httpx.Client, stack: AppServer
) -> None:
    body = {"text": "Cache me if you can.", "voiceId": "custom_user_voice", "format": "mp3"}
    first = speaker.post("/api/tts", json=body)
    assert first.headers["x-cache"] == "miss"
    before = inference_worker(stack)
    second = speaker.post("/api/tts", json=body)
    assert second.headers["x-cache"] == "hit" and second.content == first.content
    assert inference_worker(stack) == before  # answered without the inference service
    # Any change of setting is another entry.
    faster = speaker.post("/api/tts", json={**body, "speed": 1.5})
    assert faster.headers["x-cache"] == "miss"


def test_another_user_cannot_tell_from_the_cache_what_was_read_with_a_stock_voice(
    stack: AppServer, speaker: httpx.Client
) -> None:
    body = {"text": "A sentence only the speaker asked for.", "voiceId": "stock-joe"}
    assert speaker.post("/api/tts", json=body).headers["x-cache"] == "miss"
    assert speaker.post("/api/tts", json=body).headers["x-cache"] == "hit"
    with create_user(stack, f"prober-{uuid.uuid4().hex[:6]}") as prober:
        probe = prober.post("/api/tts", json=body)
    assert probe.status_code == 200 and probe.headers["x-cache"] == "miss"


def test_bad_requests_are_clear(speaker: httpx.Client) -> None:
    assert speaker.post("/api/tts", json={"text": "", "voiceId": "stock-joe"}).status_code == 422
    assert (
        speaker.post(
            "/api/tts", json={"text": "x", "voiceId": "stock-joe", "format": "aiff"}
        ).status_code
        == 422
    )
    assert (
        speaker.post("/api/tts", json={"text": "x" * 5001, "voiceId": "stock-joe"}).status_code
        == 422
    )
    unknown_stock = speaker.post("/api/tts", json={"text": "x", "voiceId": "stock-nobody"})
    assert unknown_stock.status_code == 404  # the inference service's answer, passed through


def test_inference_down_is_a_503_but_cached_audio_still_plays(
    tmp_path: Path, stack: AppServer
) -> None:
    """An app server pointed at a dead inference service, on a copy of the stack's data (and on
    PostgreSQL its database, which holds the user whose cache entries these are)."""
    from database import shared_with
    from servers import start_app

    body = {"text": "Played once while the service was up.", "voiceId": "stock-joe"}
    with stack.admin() as admin:
        assert admin.post("/api/tts", json=body).status_code == 200
    import shutil

    shutil.copytree(stack.data_dir, tmp_path / "data")
    server = start_app(tmp_path / "data", **shared_with(stack.data_dir))  # inference: closed port
    try:
        with server.admin() as admin:
            cached = admin.post("/api/tts", json=body)
            assert cached.status_code == 200 and cached.headers["x-cache"] == "hit"
            fresh = admin.post("/api/tts", json={**body, "text": "Never said before."})
            assert fresh.status_code == 503
            assert "not reachable" in fresh.json()["detail"]
            assert fresh.headers["retry-after"]
    finally:
        server.stop()


async def _broken_stream() -> AsyncIterator[bytes]:
    yield b"first part "
    yield b"second part "
    raise ConnectionError("upstream went away")


def test_tee_publishes_only_complete_streams(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "audio_cache")
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    async def consume(source: AsyncIterator[bytes], key: str) -> bytes:
        received = b""
        async for chunk in _tee(source, None, cache.writer(key, "audio/mpeg"), close):
            received += chunk
        return received

    broken = cache_key(text="broken")
    with pytest.raises(ConnectionError):
        asyncio.run(consume(_broken_stream(), broken))
    assert cache.get(broken) is None
    assert [p for p in cache.root.rglob("*") if p.is_file()] == []  # no partial file left

    async def whole() -> AsyncIterator[bytes]:
        yield b"all "
        yield b"of it"

    complete = cache_key(text="complete")
    assert asyncio.run(consume(whole(), complete)) == b"all of it"
    entry = cache.get(complete)
    assert entry is not None and entry.path.read_bytes() == b"all of it"
    assert closed == [True, True]  # the upstream response is closed either way


def test_a_browser_that_goes_away_stops_the_generation(
    speaker: httpx.Client, stack: AppServer
) -> None:
    """Closing the connection to the app server closes the one to the inference service,
    whose worker then cancels the job; nothing is cached for the abandoned stream."""
    before = inference_worker(stack)
    cache_files = set((stack.data_dir / "audio_cache").rglob("*.audio"))
    text = " ".join(f"This is sentence {n}, and it goes on for a while." for n in range(60))
    with speaker.stream(
        "POST",
        "/api/tts",
        json={"text": text, "voiceId": "custom_user_voice", "format": "pcm_24000"},
    ) as response:
        assert response.status_code == 200
        next(response.iter_raw())  # the first audio arrived; now walk away
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = inference_worker(stack)
        if now["cancelled"] > before["cancelled"] and now["in_flight"] == 0:
            break
        time.sleep(0.2)
    # cancelled, not completed: the job stopped early. (`completed` is not compared: the app
    # server's background work for earlier tests, such as hearing their live sentences through
    # POST /verify, completes inference jobs of its own meanwhile.)
    assert now["cancelled"] > before["cancelled"], now
    # No entry is new. (One may be missing for a moment: hearing an earlier test's live sentence
    # rewrites its entry, the old file removed first; AudioCache.commit.)
    assert set((stack.data_dir / "audio_cache").rglob("*.audio")) - cache_files == set()


def test_cache_evicts_least_recently_used_entries_beyond_its_limit(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "audio_cache", max_bytes=3000)

    def put(name: str) -> str:
        key = cache_key(text=name)
        writer = cache.writer(key, "audio/mpeg")
        writer.write(b"x" * 1000)
        writer.commit()
        return key

    def last_used(key: str, when: float) -> None:
        """Set an entry's last use explicitly: recency without waiting for the clock to move."""
        os.utime(cache.paths(key)[0], (when, when))

    first, second, third = put("first"), put("second"), put("third")
    for age, key in enumerate([third, second, first], start=1):
        last_used(key, time.time() - 3600 * age)  # oldest first: first, second, third
    assert cache.get(first) is not None  # touching it (now) makes "second" the oldest
    fourth = put("fourth")  # 4000 bytes > 3000: evict down to 2700
    assert cache.get(second) is None
    assert cache.get(fourth) is not None and cache.get(first) is not None
    assert cache.size_bytes <= 2700
    assert AudioCache(tmp_path / "audio_cache").size_bytes == cache.size_bytes  # after restart


def test_app_servers_sharing_a_cache_keep_its_cap_between_them(tmp_path: Path) -> None:
    """Two app servers on one cache directory (docs/deploy.md), each adding 100 entries of
    1000 bytes in turn under a 20,000-byte cap: the directory never holds more than the cap plus
    each server's re-measuring share (audio_cache.RESCAN_SHARE), though each counts only what it
    wrote between measurements."""
    cap = 20_000
    caches = [AudioCache(tmp_path / "audio_cache", max_bytes=cap) for _ in range(2)]
    most = 0
    for n in range(100):
        for which, cache in enumerate(caches):
            writer = cache.writer(cache_key(text=f"{which}-{n}"), "audio/mpeg")
            writer.write(b"x" * 1000)
            writer.commit()
            on_disk = sum(p.stat().st_size for p in (tmp_path / "audio_cache").glob("*/*.audio"))
            most = max(most, on_disk)
    assert most <= cap * (1 + 2 * RESCAN_SHARE) + 1000, most
    assert most > cap * 0.9  # the cache was filled: the cap was what held it
