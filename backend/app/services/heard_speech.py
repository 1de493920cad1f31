"""Sentences heard after they were spoken, and sentences rendered to be heard first.

Live listening (POST /api/tts) never waits for speech recognition: the audio streams as fast
as ever. Once a sentence's stream is complete and cached, `LiveChecker` (one background task,
a bounded queue) sends the cached audio to the inference service's POST /verify. A take that
passes gets its verdict, its word timings and its trimmed audio written into its cache entry;
a take that fails is rendered again through POST /generate/batch (best of
OWNVOICE_VERIFY_TAKES takes there, with a new seed) and replaces the entry, so the next play,
render or export gets the good take.

`render_heard` is that batch path for one sentence: POST /api/tts with `verify: true`, the
reader's Regenerate, and a failed live take use it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from app.services import quality
from app.services.audio_cache import AudioCache
from app.services.inference_client import InferenceError
from app.services.speech import (
    NATIVE_FORMATS,
    SOURCE_PCM_FORMAT,
    SpeechRequest,
    Synthesizer,
    VoiceTarget,
    keyed_as_expected,
    speech_payload,
)
from app.services.transcode import SOURCE_RATE, decoded_pcm, source_pcm, transcoded

log = logging.getLogger("ownvoice.heard")

# A live take is heard after it played, in whichever format it was cached: one of the inference
# service's own (NATIVE_FORMATS: raw PCM as the reader plays it, or MP3, WAV, Ogg Opus as
# /api/tts streams them) or one the app server transcoded for a compatible API (mp3_44100_128,
# pcm_16000, ...). Anything but 24 kHz PCM is decoded to it for hearing, and its entry keeps the
# bytes it has; a take rendered again is transcoded to the entry's format.
LIVE_QUEUE = 64  # sentences waiting to be heard; more are not heard (logged)
SEED_SPACE = 2**62


class NotRendered(InferenceError):
    """The batch path gave no usable audio for the sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(502, "inference_batch_broken", message)


@dataclass(frozen=True)
class Spoken:
    """A sentence as keyed in the cache: who says what, how, under which key."""

    target: VoiceTarget
    request: SpeechRequest
    key: str
    model_id: str | None


def new_seed() -> int:
    return secrets.randbelow(SEED_SPACE)


async def render_heard(
    synthesizer: Synthesizer, spoken: Spoken, seed: int | None = None, regenerated: bool = False
) -> dict[str, Any] | None:
    """Render `spoken` through POST /generate/batch (verified there: best of N takes) into its
    cache entry, replacing what was there. What was heard of it (None: verification off).
    `regenerated`: the entry replaces a take that failed (counted as regenerated)."""
    transcode_to = spoken.request.transcode_to
    fmt = spoken.request.inference_format
    payload = speech_payload(spoken.target, spoken.request, fmt, texts=[spoken.request.text])
    if seed is not None:
        payload["seed"] = seed
    async with synthesizer.inference.generate_batch(payload) as events:
        start = await anext(events, None)
        if start is None or start.get("type") != "start":
            raise NotRendered("The inference service answered without its start line.")
        if not keyed_as_expected(
            spoken.target, spoken.model_id, start.get("model_id"), start.get("conditioning_hash")
        ):
            raise NotRendered("The inference service changed its model or voice: try again.")
        async for event in events:
            if event.get("type") == "item":
                heard = quality.heard_of(event)
                if heard is not None and regenerated:
                    heard["verification"] = {**heard["verification"], "regenerated": True}
                headers = {"x-sample-rate": str(start.get("sample_rate") or 24000)}
                media_type = start.get("media_type") or NATIVE_FORMATS[fmt]
                audio = _decoded(event.get("audio"))
                if transcode_to is not None:  # the entry keeps the format it was asked in
                    audio = await asyncio.to_thread(transcoded, audio, transcode_to)
                    headers = {"x-sample-rate": str(transcode_to.sample_rate)}
                    media_type = transcode_to.media_type
                await asyncio.to_thread(
                    store, synthesizer.cache, spoken.key, media_type, headers, audio, heard
                )
                return heard
            if event.get("type") == "error":
                raise NotRendered(f"The inference service stopped: {event.get('message')}")
    raise NotRendered("The inference service ended the batch without the sentence.")


async def spoken_as(
    synthesizer: Synthesizer, target: VoiceTarget, request: SpeechRequest
) -> Spoken:
    key, model_id = await synthesizer.key_for(target, request)
    return Spoken(target, request, key, model_id)


async def ensure_heard(
    synthesizer: Synthesizer, target: VoiceTarget, request: SpeechRequest
) -> None:
    """Make the cache hold a heard take of `request` (POST /api/tts `verify: true`): an entry
    already heard stays; otherwise it is rendered through the batch path. ElevenLabs voices
    are not heard (their audio is ElevenLabs')."""
    if target.engine == "elevenlabs":
        return
    spoken = await spoken_as(synthesizer, target, request)
    entry = await asyncio.to_thread(synthesizer.cache.get, spoken.key)
    if entry is None or entry.verification is None:
        await render_heard(synthesizer, spoken)


def store(
    cache: AudioCache,
    key: str,
    media_type: str,
    headers: dict[str, str],
    audio: bytes,
    heard: dict[str, Any] | None,
) -> None:
    writer = cache.writer(key, media_type, headers, heard)
    writer.write(audio)
    if not writer.commit():
        raise NotRendered("The audio could not be stored in the cache: see the server's log.")


def _decoded(data: Any) -> bytes:
    try:
        audio = base64.b64decode(data or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        audio = b""
    if not audio:
        raise NotRendered("The inference service sent a sentence without valid audio.")
    return audio


class LiveChecker:
    """One background task that hears live sentences after they were cached (see module doc)."""

    def __init__(self, synthesizer: Synthesizer) -> None:
        self._synthesizer = synthesizer
        self._queue: asyncio.Queue[Spoken] = asyncio.Queue(LIVE_QUEUE)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-checker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def after_cached(
        self, target: VoiceTarget, request: SpeechRequest, key: str, model_id: str | None
    ) -> None:
        """speech.AfterCached: what a Synthesizer calls for each live sentence it cached."""
        self.submit(Spoken(target, request, key, model_id))

    def submit(self, spoken: Spoken) -> None:
        """A live sentence is complete and cached: hear it when the queue gets to it."""
        if spoken.target.engine == "elevenlabs":
            return  # ElevenLabs' audio is theirs to get right
        if (
            spoken.request.transcode_to is None
            and spoken.request.native_format not in NATIVE_FORMATS
        ):
            return
        try:
            self._queue.put_nowait(spoken)
        except asyncio.QueueFull:
            log.warning("too many live sentences waiting to be heard: not hearing this one")

    async def _run(self) -> None:
        while True:
            spoken = await self._queue.get()
            try:
                await self.hear(spoken)
            except InferenceError as exc:
                log.warning("a live sentence was not heard", extra={"reason": exc.message})
            except Exception:
                log.exception("hearing a live sentence failed")

    async def hear(self, spoken: Spoken) -> None:
        cache = self._synthesizer.cache
        entry = await asyncio.to_thread(cache.get, spoken.key)
        if entry is None or entry.verification is not None:
            return  # gone meanwhile, or heard already (a render job got there first)
        stored = await asyncio.to_thread(entry.path.read_bytes)
        transcode_to = spoken.request.transcode_to
        is_pcm = transcode_to is None and spoken.request.native_format == SOURCE_PCM_FORMAT
        if is_pcm:
            pcm = stored
        elif transcode_to is not None:
            pcm = await asyncio.to_thread(source_pcm, stored, transcode_to)
        else:
            pcm = await asyncio.to_thread(decoded_pcm, stored)
        answer = await self._synthesizer.inference.verify(
            pcm,
            {
                "text": spoken.request.text,
                "voice_id": spoken.target.voice_id,
                "language": spoken.request.language or spoken.target.language or "en",
                "speed": spoken.request.speed,
                "sample_rate": SOURCE_RATE,
            },
        )
        heard = quality.heard_of(answer)
        verification = (heard or {}).get("verification") or {}
        if verification.get("checked") and not verification.get("passed"):
            log.info("a live sentence failed verification: rendering it again")
            await render_heard(self._synthesizer, spoken, new_seed(), regenerated=True)
            return
        audio = _decoded(answer["audio"]) if is_pcm and "audio" in answer else stored
        await asyncio.to_thread(
            store, cache, spoken.key, entry.media_type, entry.headers, audio, heard
        )
