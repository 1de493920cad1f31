"""Text to speech for every API surface: choose the engine for a voice id, answer from the
audio cache when possible, otherwise stream from the inference service or ElevenLabs while
filling the cache.

Voice routing (issue 4 item 6):
- `custom_user_voice`       -> the user's default cloned voice
- the user's voice ids      -> inference service (XTTS)
- what /stock-voices lists  -> inference service (Piper)
- anything else             -> ElevenLabs when ELEVENLABS_API_KEY is set, else a 400 naming it
(`resolve_voice`, the one place that decides)
"""

from __future__ import annotations

import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy.orm import Session

from app.models.user import User
from app.models.voice import VOICE_READY, Voice
from app.services.audio_cache import AudioCache, CacheWriter, cache_key
from app.services.elevenlabs import ElevenLabsClient, is_voice_id
from app.services.errors import (
    BadRequest,
    ElevenLabsNotConfigured,
    InvalidInput,
    NoVoiceOfYourOwn,
    VoiceNotFound,
    VoiceNotReady,
)
from app.services.inference_client import InferenceClient, InferenceError, generate_payload
from app.services.transcode import OutputFormat, PcmTranscoder
from app.services.voices import CUSTOM_USER_VOICE, default_voice

log = logging.getLogger("ownvoice.speech")

# What the inference service streams natively, and its media types.
NATIVE_FORMATS = {
    "wav": "audio/wav",
    "pcm_24000": "audio/L16;rate=24000",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
}
ELEVENLABS_FOR_NATIVE = {"mp3": "mp3_44100_128", "pcm_24000": "pcm_24000", "wav": "pcm_24000"}
# The inference service's raw PCM (transcode.SOURCE_RATE): what the app server transcodes from.
SOURCE_PCM_FORMAT = "pcm_24000"


@dataclass
class VoiceTarget:
    engine: str  # "xtts" (a user's clone), "piper" (stock) or "elevenlabs"
    voice_id: str
    conditioning_hash: str | None = None
    model_id: str | None = None  # for a clone: the model its conditioning was computed with
    language: str | None = None
    # Shared voices (stock, ElevenLabs) are cached per user: another user's X-Cache: hit
    # would tell them what was read. A clone belongs to one user already.
    cache_scope: str | None = None


SPEED_STEP = 0.05


def normalize_speed(speed: float) -> float:
    """Speed in steps of 0.05 (inaudibly finer steps would only make distinct cache entries
    and render jobs for the same sound)."""
    return round(round(speed / SPEED_STEP) * SPEED_STEP, 2)


@dataclass
class SpeechRequest:
    text: str
    language: str | None = None
    # Either a native inference format ("mp3", ...) or a transcoded one (OutputFormat).
    native_format: str = "mp3"
    transcode_to: OutputFormat | None = None
    speed: float = 1.0
    sampling: dict[str, Any] = field(default_factory=dict)
    elevenlabs_model_id: str | None = None
    elevenlabs_settings: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.speed = normalize_speed(self.speed)  # the cache key and the engines get this

    @property
    def inference_format(self) -> str:
        """What the inference service is asked for: the native format, or 24 kHz PCM when the
        app server transcodes (for a compatible API's formats: mp3_44100_128, pcm_16000, ...)."""
        return SOURCE_PCM_FORMAT if self.transcode_to else self.native_format


REPLICA_HEADER = "x-ownvoice-replica"


@dataclass
class AudioStream:
    media_type: str
    body: AsyncIterator[bytes]
    cache_hit: bool
    headers: dict[str, str] = field(default_factory=dict)
    # A hit's word timings in this audio, when it was heard (the cache entry's `words`).
    words: list[dict[str, Any]] | None = None


async def resolve_voice(
    db: Session,
    user: User,
    voice_id: str,
    inference: InferenceClient,
    elevenlabs: ElevenLabsClient | None,
    *,
    my_voice_aliases: Collection[str] = (),
) -> VoiceTarget:
    """The one voice router: which engine speaks `voice_id` for `user`.

    `custom_user_voice` (and any of `my_voice_aliases`, e.g. OpenAI's voice names) is the
    user's default clone; a clone id is that clone (another user's is not there); a voice the
    inference service lists is a stock voice; anything else is an ElevenLabs voice when a key
    is set. Raises a domain error saying what to choose instead.
    """
    if voice_id.lower() in my_voice_aliases:
        return await _aliased_voice(db, user, voice_id, inference)
    own = own_voice_target(db, user, voice_id)
    if own is not None:
        return own
    return await shared_voice_target(user.id, voice_id, inference, elevenlabs)


def own_voice_target(db: Session, user: User, voice_id: str) -> VoiceTarget | None:
    """`custom_user_voice` or one of the user's clones; None when `voice_id` names no clone."""
    if voice_id == CUSTOM_USER_VOICE:
        voice = default_voice(db, user)
        if voice is None:
            raise NoVoiceOfYourOwn()
        return _clone_target(voice)
    voice = db.get(Voice, voice_id)
    if voice is None:
        return None
    if voice.user_id != user.id:
        raise VoiceNotFound(voice_id)
    return _clone_target(voice)


# The form of the inference service's stock voice ids, for the one case where its listing
# cannot be had (down, and never seen since the data directory was made).
STOCK_ID_FORM = "stock-"


def is_stock_voice(voice_id: str, listing: list[dict[str, Any]] | None) -> bool:
    """Whether the inference service's voice listing (/stock-voices) has `voice_id`. Without
    a listing (`None`), by the form of its ids: the request then gets the service's own 503,
    cached audio still plays, and a render job waits for the service."""
    if listing is None:
        return voice_id.startswith(STOCK_ID_FORM)
    return any(voice.get("voice_id") == voice_id for voice in listing)


async def shared_voice_target(
    user_id: str, voice_id: str, inference: InferenceClient, elevenlabs: ElevenLabsClient | None
) -> VoiceTarget:
    """A voice shared by all users: a stock voice, else an ElevenLabs voice."""
    try:
        listing: list[dict[str, Any]] | None = await inference.stock_voices()
    except InferenceError:
        listing = None  # down, and its last listing is not remembered
    if is_stock_voice(voice_id, listing):
        return VoiceTarget("piper", voice_id, cache_scope=user_id)
    if not is_voice_id(voice_id):
        raise VoiceNotFound(
            voice_id,
            f"'{voice_id[:80]}' is not one of your voices, a stock voice or an "
            "ElevenLabs voice id (letters and digits only): pick a voice from the list.",
            code="unknown_voice",  # as the inference service names it
        )
    if elevenlabs is None:
        raise ElevenLabsNotConfigured(
            f"'{voice_id}' is not one of your voices or a stock voice. To use ElevenLabs "
            "voices, set ELEVENLABS_API_KEY and restart the app server."
        )
    return VoiceTarget("elevenlabs", voice_id, cache_scope=user_id)


async def _aliased_voice(
    db: Session, user: User, alias: str, inference: InferenceClient
) -> VoiceTarget:
    """A name that means "my voice": the user's default clone, else the first stock voice."""
    if default_voice(db, user) is not None:
        return resolve_own(db, user, CUSTOM_USER_VOICE)
    try:
        stock = await inference.stock_voices()
    except InferenceError:
        stock = []
    if not stock:
        raise BadRequest(
            f"No voice to speak '{alias}' with: record a voice in "
            "Ownvoice, or start the inference service."
        )
    return VoiceTarget("piper", stock[0]["voice_id"], cache_scope=user.id)


def resolve_own(db: Session, user: User, voice_id: str) -> VoiceTarget:
    target = own_voice_target(db, user, voice_id)
    if target is None:
        raise VoiceNotFound(voice_id)
    return target


def _clone_target(voice: Voice) -> VoiceTarget:
    if voice.status != VOICE_READY:
        raise VoiceNotReady(
            "The voice is still being prepared: try again in a moment."
            if voice.error is None
            else f"The voice failed to prepare: {voice.error}"
        )
    return VoiceTarget("xtts", voice.id, voice.conditioning_hash, voice.model_id, voice.language)


# --- streaming helpers ----------------------------------------------------------------


async def _tee(
    source: AsyncIterator[bytes],
    transcoder: PcmTranscoder | None,
    writer: CacheWriter | None,
    close: Callable[[], Awaitable[None]],
    cached: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """Pass chunks through as they come, filling the cache; publish only a complete stream
    (and then call `cached`)."""
    complete = False
    try:
        async for chunk in source:
            out = transcoder.feed(chunk) if transcoder else chunk
            if out:
                if writer:
                    writer.write(out)
                yield out
        if transcoder:
            tail = transcoder.flush()
            if writer:
                writer.write(tail)
            if tail:
                yield tail
        complete = True
    finally:
        # Shielded: closing upstream must happen even while this task is being cancelled
        # (that close is what tells the inference service to stop generating), and so must
        # publishing a complete stream, whose fsyncs (and, now and then, the cache's measuring
        # or eviction) run off the event loop.
        with anyio.CancelScope(shield=True):
            await close()
            if writer is not None:
                if not complete:
                    writer.discard()
                elif await anyio.to_thread.run_sync(writer.commit) and cached is not None:
                    cached()


async def _file_chunks(path: Any, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(chunk_size):
            yield chunk


def wav_stream_header(sample_rate: int = 24000) -> bytes:
    """A WAV header for a stream of unknown length (sizes set to the maximum, as streamers do)."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


# --- synthesis ------------------------------------------------------------------------


def speech_cache_key(target: VoiceTarget, request: SpeechRequest, model_id: str | None) -> str:
    """The audio cache key: everything that changes the sound. Every path that fills or
    reads the cache (POST /api/tts, the compatible APIs, render jobs) keys through here."""
    fmt = request.transcode_to.__dict__ if request.transcode_to else request.native_format
    scope = {"scope": target.cache_scope} if target.cache_scope else {}
    return cache_key(
        **scope,
        voice=target.voice_id,
        engine=target.engine,
        conditioning=target.conditioning_hash,
        text=request.text,
        model=model_id,
        settings={
            "language": request.language,
            "format": fmt,
            "speed": request.speed,
            "sampling": request.sampling,
            "elevenlabs": request.elevenlabs_settings,
        },
    )


def keyed_as_expected(
    target: VoiceTarget,
    expected_model: str | None,
    actual_model: str | None,
    actual_conditioning: str | None,
) -> bool:
    """Whether audio the inference service made belongs under the key we computed.

    Cache only what we could key honestly: if the service now runs another model or
    conditioning than we predicted, the audio does not belong under that key.
    """
    return actual_model in (None, expected_model) and (
        target.conditioning_hash is None or actual_conditioning in (None, target.conditioning_hash)
    )


def speech_payload(
    target: VoiceTarget, request: SpeechRequest, fmt: str, **text: Any
) -> dict[str, Any]:
    """The inference service's /generate (`text=`) or /generate/batch (`texts=`) body for
    `request` in `target`'s voice."""
    return generate_payload(
        target.voice_id,
        request.language or target.language,
        fmt,
        request.speed,
        request.sampling,
        **text,
    )


# Told of every live sentence the cache now holds complete (the key it is under, and the
# model id in that key): app.services.heard_speech.LiveChecker hears it off the request path.
AfterCached = Callable[[VoiceTarget, SpeechRequest, str, str | None], None]


class Synthesizer:
    def __init__(
        self,
        inference: InferenceClient,
        elevenlabs: ElevenLabsClient | None,
        cache: AudioCache,
        after_cached: AfterCached | None = None,
    ) -> None:
        self.inference, self.elevenlabs, self.cache = inference, elevenlabs, cache
        self.after_cached = after_cached

    async def _current_model_id(self, target: VoiceTarget) -> str | None:
        try:
            ready = await self.inference.ready()
        except InferenceError:
            # Down: key with the last model seen, so cached answers still play.
            return self.cache.last_model_ids().get(target.engine) or target.model_id
        engines = ready.get("engines") or {}
        model_ids = {
            name: info["model_id"]
            for name, info in engines.items()
            if isinstance(info, dict) and info.get("model_id")
        }
        self.cache.remember_model_ids(model_ids)
        return model_ids.get(target.engine) or ready.get("model_id")

    def _media_type(self, request: SpeechRequest) -> str:
        if request.transcode_to is not None:
            return request.transcode_to.media_type
        return NATIVE_FORMATS[request.native_format]

    async def model_id_for(self, target: VoiceTarget, request: SpeechRequest) -> str | None:
        """The model id that goes into the cache key of `request` spoken by `target`."""
        if target.engine == "elevenlabs":
            return request.elevenlabs_model_id
        return await self._current_model_id(target)

    async def key_for(self, target: VoiceTarget, request: SpeechRequest) -> tuple[str, str | None]:
        """The cache key of `request` in `target`'s voice, and the model id in it."""
        return await self._key(target, request)

    async def _key(self, target: VoiceTarget, request: SpeechRequest) -> tuple[str, str | None]:
        model_id = await self.model_id_for(target, request)
        return speech_cache_key(target, request, model_id), model_id

    async def speak(self, target: VoiceTarget, request: SpeechRequest) -> AudioStream:
        key, model_id = await self._key(target, request)
        entry = await anyio.to_thread.run_sync(self.cache.get, key)  # it checks the checksum
        log.info(
            "speech",
            extra={
                "engine": target.engine,
                "cache": "hit" if entry else "miss",
                "chars": len(request.text),
            },
        )
        if entry is not None:
            headers = {**entry.headers, "content-length": str(entry.path.stat().st_size)}
            body = _file_chunks(entry.path)
            return AudioStream(entry.media_type, body, True, headers, entry.words)
        if target.engine == "elevenlabs":
            return await self._from_elevenlabs(target, request, key)
        return await self._from_inference(target, request, key, model_id)

    async def _from_inference(
        self, target: VoiceTarget, request: SpeechRequest, key: str, expected_model: str | None
    ) -> AudioStream:
        payload = speech_payload(target, request, request.inference_format, text=request.text)
        response = await self.inference.open_generate(payload)
        headers = {k: response.headers[k] for k in ("x-sample-rate",) if k in response.headers}
        if request.transcode_to is not None:
            headers["x-sample-rate"] = str(request.transcode_to.sample_rate)
        media_type = (
            self._media_type(request)
            if request.transcode_to
            else response.headers.get("content-type", self._media_type(request))
        )
        actual_model = response.headers.get("x-model-id")
        consistent = keyed_as_expected(
            target, expected_model, actual_model, response.headers.get("x-conditioning-hash")
        )
        if not consistent:
            log.info(
                "not caching: model or conditioning changed",
                extra={"voice_id": target.voice_id, "model": actual_model},
            )
        writer = self.cache.writer(key, media_type, headers) if consistent else None
        transcoder = PcmTranscoder(request.transcode_to) if request.transcode_to else None
        after = self.after_cached
        cached = (lambda: after(target, request, key, expected_model)) if after else None
        body = _tee(response.aiter_raw(), transcoder, writer, response.aclose, cached)
        # Which inference replica spoke (Ray Serve): for this answer only, never cached with it.
        replica = response.headers.get(REPLICA_HEADER)
        return AudioStream(
            media_type, body, False, {**headers, REPLICA_HEADER: replica} if replica else headers
        )

    async def _from_elevenlabs(
        self, target: VoiceTarget, request: SpeechRequest, key: str
    ) -> AudioStream:
        assert self.elevenlabs is not None
        if request.transcode_to is not None:
            output_format = (
                f"pcm_{request.transcode_to.sample_rate}"
                if request.transcode_to.codec == "pcm"
                else f"mp3_{request.transcode_to.sample_rate}_{request.transcode_to.bitrate_kbps}"
            )
        elif request.native_format in ELEVENLABS_FOR_NATIVE:
            output_format = ELEVENLABS_FOR_NATIVE[request.native_format]
        else:
            raise InvalidInput(
                f"The format '{request.native_format}' is not available "
                "for ElevenLabs voices: use mp3, wav or pcm_24000."
            )
        body: dict[str, Any] = {
            "text": request.text,
            "model_id": request.elevenlabs_model_id or "eleven_multilingual_v2",
        }
        if request.elevenlabs_settings:
            body["voice_settings"] = request.elevenlabs_settings
        if request.language:
            body["language_code"] = request.language
        response = await self.elevenlabs.open_tts(target.voice_id, body, output_format)
        media_type = self._media_type(request)
        writer = self.cache.writer(key, media_type)
        stream = _tee(response.aiter_raw(), None, writer, response.aclose)
        if request.native_format == "wav" and request.transcode_to is None:
            # The header goes to the client only; the cache stores it via the writer below.
            writer.write(wav_stream_header())
            stream = _prepend(wav_stream_header(), stream)
        return AudioStream(media_type, stream, False)
