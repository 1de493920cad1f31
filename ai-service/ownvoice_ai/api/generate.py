"""POST /generate: text in, audio streamed out as it is produced.

The handler reads like the pipeline: pick the engine and voice → split the text to model-sized
chunks → queue the job on the device worker → wait for its first event (so early failures are
still proper HTTP errors) → stream encoded audio. When the client goes away the job's StopSignal
is cancelled and the token loop stops within one step.

The pieces other routes reuse (POST /generate/batch in batch.py) are the functions below the
route: voice resolution, options, splitting, queueing and the first event.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import numpy as np
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ..conditioning import Conditioning, valid_voice_id
from ..encode import make_encoder
from ..engines.base import AudioChunk, StopSignal, SynthesisOptions
from ..engines.xtts import SAMPLE_RATE, TextTooLong, UnsupportedLanguage
from ..engines.xtts_gpt import GenerationStopped
from ..security import Authorized
from ..services import Services
from ..text import language_code, split_for_model
from ..worker import JobHandle, Priority, QueueFull
from .deps import ServicesDep
from .errors import api_error

logger = logging.getLogger(__name__)
router = APIRouter(dependencies=[Authorized])

OUTPUT_SAMPLE_RATE = SAMPLE_RATE  # every format is 24 kHz mono; other engines are resampled
# Normalising and chunking run off the event loop in a pool this small, so that many long texts
# at once queue for it instead of taking every core from the device worker and the other requests.
TEXT_THREADS = 2
_text_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


class SynthesisRequest(BaseModel):
    """What every generation request shares: language, output format and sampling."""

    language: str = "en"
    format: Literal["wav", "pcm_24000", "mp3", "opus"] = "wav"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    temperature: float | None = Field(None, gt=0.0, le=5.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1, le=1026)
    repetition_penalty: float | None = Field(None, ge=1.0, le=50.0)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)


class GenerateRequest(SynthesisRequest):
    text: str = Field(min_length=1)
    voice_id: str | None = None
    speaker_wav_path: str | None = None


@dataclass(frozen=True)
class Meta:
    conditioning_hash: str
    model_id: str

    @classmethod
    def of(cls, conditioning: Conditioning) -> Meta:
        return cls(conditioning.conditioning_hash, conditioning.model_id)


@router.post("/generate")
async def generate(body: GenerateRequest, services: ServicesDep) -> StreamingResponse:
    if len(body.text) > services.settings.max_text_chars:
        raise api_error(
            413, "text_too_long", f"Send at most {services.settings.max_text_chars} characters per request."
        )
    voice_id = resolve_voice_id(body, services)
    stop = StopSignal()
    options = synthesis_options(body, stop)
    if voice_id.startswith("stock-"):
        produce = await piper_job(services, voice_id, body.text, options)
    else:
        produce = await xtts_job(services, voice_id, body.text, options)
    handle = queue_job(services, produce, stop, Priority.INTERACTIVE)
    meta = await first_event(handle, services)
    headers = {
        "X-Sample-Rate": str(OUTPUT_SAMPLE_RATE),
        "X-Model-Id": meta.model_id,
        "X-Conditioning-Hash": meta.conditioning_hash,
        "Cache-Control": "no-store",
    }
    encoder = make_encoder(body.format, OUTPUT_SAMPLE_RATE)
    return StreamingResponse(
        encoded_stream(handle, encoder, services.settings.generation_timeout_s),
        media_type=encoder.media_type,
        headers=headers,
    )


def resolve_voice_id(body: GenerateRequest, services: Services) -> str:
    if body.voice_id is not None:
        return known_voice(body.voice_id, services)
    if body.speaker_wav_path is None:
        raise api_error(
            400, "missing_voice", "Name a voice: set voice_id (or speaker_wav_path inside the voices directory)."
        )
    return cloning_ready(voice_from_path(body.speaker_wav_path, services.settings.voices_dir), services)


def known_voice(voice_id: str, services: Services) -> str:
    """A stock voice, or an uploaded voice when cloning is available (404 / 503 otherwise)."""
    if voice_id.startswith("stock-"):
        if services.piper is None or voice_id not in {v.voice_id for v in services.piper.voices()}:
            raise api_error(404, "unknown_voice", f"No stock voice '{voice_id}': see GET /stock-voices.")
        return voice_id
    if not valid_voice_id(voice_id) or not services.store.exists(voice_id):
        raise api_error(404, "unknown_voice", "No such voice: upload it with PUT /voices/{voice_id} first.")
    return cloning_ready(voice_id, services)


def cloning_ready(voice_id: str, services: Services) -> str:
    if not services.cloning_available:
        raise api_error(503, "cloning_unavailable", services.xtts.status().reason or "XTTS is not loaded.")
    return voice_id


def voice_from_path(raw: str, voices_dir: Path) -> str:
    """The voice id of a reference path, accepted only if it resolves inside the voices directory.

    Every refusal is the same 400, so the answer never tells whether a file exists elsewhere.
    """
    refused = api_error(
        400, "invalid_path", "speaker_wav_path must name a voice file in the voices directory; use voice_id."
    )
    if "\x00" in raw or not raw.strip():
        raise refused
    root = Path(os.path.realpath(voices_dir))
    candidate = Path(raw) if os.path.isabs(raw) else root / raw
    resolved = Path(os.path.realpath(candidate))
    if resolved.parent != root or resolved.suffix != ".wav" or not valid_voice_id(resolved.stem):
        raise refused
    if not resolved.is_file():
        raise refused
    return resolved.stem


def synthesis_options(body: SynthesisRequest, stop: StopSignal) -> SynthesisOptions:
    defaults = SynthesisOptions()
    return SynthesisOptions(
        language=language_code(body.language),
        speed=body.speed,
        temperature=body.temperature if body.temperature is not None else defaults.temperature,
        top_p=body.top_p if body.top_p is not None else defaults.top_p,
        top_k=body.top_k if body.top_k is not None else defaults.top_k,
        repetition_penalty=body.repetition_penalty
        if body.repetition_penalty is not None
        else defaults.repetition_penalty,
        seed=body.seed,
        stop=stop,
    )


async def xtts_job(services: Services, voice_id: str, text: str, options: SynthesisOptions):
    engine = services.xtts
    [chunks] = await xtts_chunks(services, [text], options.language)

    def produce() -> Iterator[Any]:
        conditioning = services.store.get(voice_id, engine.compute_conditioning)
        yield Meta.of(conditioning)
        for chunk in chunks:
            yield from engine.stream(chunk, conditioning, options)

    return produce


async def piper_job(services: Services, voice_id: str, text: str, options: SynthesisOptions):
    await piper_chunks([text], options.language)
    meta = piper_meta(services, voice_id)

    def produce() -> Iterator[Any]:
        yield meta
        yield from piper_audio(services.piper, voice_id, text, options)

    return produce


async def xtts_chunks(services: Services, texts: list[str], language: str) -> list[list[str]]:
    """Each text in XTTS-sized chunks; 400 when XTTS cannot speak the language or a text is empty."""
    engine = services.xtts
    if language.split("-")[0] not in engine.supported_languages():
        raise api_error(400, "unsupported_language", f"XTTS does not speak '{language}'.")
    try:  # splitting long text with the tokenizer takes a while: keep it off the event loop
        per_text = await in_text_pool(split_each, texts, language, engine.count_tokens(language))
    except UnsupportedLanguage as error:
        raise api_error(400, "unsupported_language", f"{error}.") from error
    return speakable(per_text)


async def piper_chunks(texts: list[str], language: str) -> list[list[str]]:
    """Each text in sentences (Piper splits again itself); 400 when a text has nothing to say."""
    return speakable(await in_text_pool(split_each, texts, language))


async def in_text_pool(func, *args):  # noqa: ANN001, ANN202 - a thin run_sync wrapper
    """`func(*args)` in a worker thread, at most TEXT_THREADS at a time (one pool per event loop)."""
    loop = asyncio.get_running_loop()
    limiter = _text_limiters.get(loop)
    if limiter is None:
        limiter = _text_limiters[loop] = anyio.CapacityLimiter(TEXT_THREADS)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


def split_each(texts: list[str], language: str, count_tokens=None) -> list[list[str]]:
    return [split_for_model(text, language, count_tokens=count_tokens) for text in texts]


def speakable(per_text: list[list[str]]) -> list[list[str]]:
    for index, chunks in enumerate(per_text):
        if not chunks:
            what = "The text" if len(per_text) == 1 else f"texts[{index}]"
            raise api_error(400, "nothing_to_say", f"{what} has nothing speakable in it: send words.")
    return per_text


def piper_meta(services: Services, voice_id: str) -> Meta:
    model_id = services.piper_status.model_id or "piper"
    return Meta(f"{model_id}:{voice_id}", model_id)


def piper_audio(engine, voice_id: str, text: str, options: SynthesisOptions) -> Iterator[AudioChunk]:
    """Piper's audio for `text`, resampled to the 24 kHz every output format uses."""
    resampler = None
    if engine.sample_rate != OUTPUT_SAMPLE_RATE:
        import soxr

        resampler = soxr.ResampleStream(engine.sample_rate, OUTPUT_SAMPLE_RATE, 1, dtype="float32")
    # The engine splits the text itself, puts pauses between sentences and marks the last chunk.
    for audio in engine.stream(text, voice_id, options):
        samples = np.asarray(audio.samples, dtype=np.float32)
        if resampler is not None:
            samples = resampler.resample_chunk(samples, last=audio.is_last)
        yield AudioChunk(samples, OUTPUT_SAMPLE_RATE, is_last=audio.is_last)


def queue_job(services: Services, produce, stop: StopSignal, priority: Priority) -> JobHandle:
    try:
        return services.worker.submit(produce, stop, priority)
    except QueueFull as full:
        retry = str(services.settings.retry_after_s)
        raise api_error(
            429, "busy", f"Too many requests are queued ({full}); retry shortly.", {"Retry-After": retry}
        ) from full


async def first_event(handle: JobHandle, services: Services) -> Meta:
    wait = services.settings.generation_timeout_s * services.worker.capacity
    try:
        event = await handle.next(wait)
    except StopAsyncIteration:
        raise api_error(503, "cancelled", "The request was cancelled before it started; send it again.") from None
    except FileNotFoundError:
        raise api_error(404, "unknown_voice", "No such voice: upload it with PUT /voices/{voice_id} first.") from None
    except (UnsupportedLanguage, TextTooLong) as error:
        raise api_error(400, "invalid_text", f"{error}. Check the language and text.") from error
    except GenerationStopped as stopped:
        handle.cancel()
        raise api_error(
            504,
            "generation_timeout",
            "Generation did not start in time; retry, or send shorter text.",
            {"Retry-After": str(services.settings.retry_after_s)},
        ) from stopped
    except Exception as error:
        handle.cancel()
        logger.exception("generation failed before the first audio")
        raise api_error(
            500, "generation_failed", f"Generation failed ({type(error).__name__}); see the service log."
        ) from error
    if not isinstance(event, Meta):
        handle.cancel()
        raise api_error(500, "generation_failed", "The engine produced no stream header; see the service log.")
    return event


async def encoded_stream(handle: JobHandle, encoder, wait_s: float) -> AsyncIterator[bytes]:
    try:
        async for chunk in handle.items(wait_s):
            data = encoder.encode(chunk.samples)
            if data:
                yield data
        tail = encoder.finish()
        if tail:
            yield tail
    except GenerationStopped as stopped:
        # Re-raised so the server drops the connection: a client (and the backend's audio cache)
        # must be able to tell a cut-off stream from a finished one.
        logger.warning("generation stopped mid-stream: %s", stopped.reason)
        raise
    except Exception:
        logger.exception("generation failed mid-stream; the response ends early")
        raise
    finally:
        handle.cancel()  # client gone, error, or done: the worker stops at its next token
