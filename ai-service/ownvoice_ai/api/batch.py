"""POST /generate/batch: many texts in, one whole audio file per text out, as NDJSON events.

Book rendering asks for up to 32 sentences at once. For a cloned voice every text is split into
model-sized chunks, all chunks of all texts go through XTTS together (`render_batch`: one GPT
forward pass per audio token serves the whole batch), and a text's item leaves as soon as its
last chunk is done. Stock voices are rendered one text after another. Everything before the
stream (voice, language, queueing, the first event) is what /generate does, from generate.py.

Events, one JSON object per line: start, progress (now and then), item (per text, any order),
then end, or error when generation fails after the stream began. Batch jobs queue behind every
waiting /generate request; closing the connection cancels the job.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from ..encode import MEDIA_TYPES, make_encoder
from ..engines.base import BatchProgress, RenderedChunk, StopSignal, SynthesisOptions
from ..engines.xtts_gpt import GenerationStopped
from ..security import Authorized
from ..services import Services
from ..worker import JobHandle, Priority
from .deps import ServicesDep
from .generate import (
    OUTPUT_SAMPLE_RATE,
    Meta,
    SynthesisRequest,
    first_event,
    known_voice,
    piper_audio,
    piper_chunks,
    piper_meta,
    queue_job,
    synthesis_options,
    xtts_chunks,
)

logger = logging.getLogger(__name__)
router = APIRouter(dependencies=[Authorized])

MAX_TEXTS = 32
MAX_TEXT_CHARS = 5000
# Progress events reach the client at most this often, however chatty the engine; the worker
# still sees every one, so its stall clock restarts on each of them.
PROGRESS_EVERY_S = 0.5


class BatchRequest(SynthesisRequest):
    texts: list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]] = Field(
        min_length=1, max_length=MAX_TEXTS
    )
    voice_id: str


@dataclass(frozen=True)
class TextAudio:
    """The whole audio of texts[index], at OUTPUT_SAMPLE_RATE."""

    index: int
    samples: np.ndarray


@dataclass(frozen=True)
class Heartbeat:
    """A chunk or sentence is done, no text yet: restarts the worker's stall clock, never sent."""


@router.post("/generate/batch")
async def generate_batch(body: BatchRequest, services: ServicesDep) -> StreamingResponse:
    voice_id = known_voice(body.voice_id, services)
    stop = StopSignal()
    options = synthesis_options(body, stop)
    if voice_id.startswith("stock-"):
        produce = await piper_batch_job(services, voice_id, body.texts, options)
    else:
        produce = await xtts_batch_job(services, voice_id, body.texts, options)
    handle = queue_job(services, produce, stop, Priority.BATCH)
    meta = await first_event(handle, services)
    start = {
        "type": "start",
        "count": len(body.texts),
        "model_id": meta.model_id,
        "conditioning_hash": meta.conditioning_hash,
        "sample_rate": OUTPUT_SAMPLE_RATE,
        "media_type": MEDIA_TYPES[body.format],
    }
    return StreamingResponse(
        batch_events(handle, start, body.format, services.settings.generation_timeout_s),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store"},
    )


async def xtts_batch_job(services: Services, voice_id: str, texts: list[str], options: SynthesisOptions):
    engine = services.xtts
    per_text = await xtts_chunks(services, texts, options.language)

    def produce() -> Iterator[Any]:
        conditioning = services.store.get(voice_id, engine.compute_conditioning)
        yield Meta.of(conditioning)
        assembly = TextAssembly([len(chunks) for chunks in per_text])
        flat = [chunk for chunks in per_text for chunk in chunks]
        for event in engine.render_batch(flat, conditioning, options):
            if isinstance(event, BatchProgress):
                yield event
            else:  # a chunk that finishes no text yet is still progress for the stall clock
                yield assembly.add(event) or Heartbeat()
        assembly.check_complete()

    return produce


async def piper_batch_job(services: Services, voice_id: str, texts: list[str], options: SynthesisOptions):
    await piper_chunks(texts, options.language)
    meta = piper_meta(services, voice_id)

    def produce() -> Iterator[Any]:
        yield meta
        for index, text in enumerate(texts):
            pieces = []
            for audio in piper_audio(services.piper, voice_id, text, options):
                pieces.append(audio.samples)
                yield Heartbeat()
            yield TextAudio(index, joined(pieces))

    return produce


class TextAssembly:
    """Collects a batch's finished chunks (in any order) back into whole texts.

    Chunks are numbered across the batch: texts[0]'s chunks first, then texts[1]'s, and so on.
    """

    def __init__(self, chunk_counts: list[int]) -> None:
        self._owner = [text for text, count in enumerate(chunk_counts) for _ in range(count)]
        self._first = [sum(chunk_counts[:text]) for text in range(len(chunk_counts))]
        self._counts = chunk_counts
        self._done: dict[int, np.ndarray] = {}
        self._finished = 0

    def add(self, chunk: RenderedChunk) -> TextAudio | None:
        """The whole text once this was its last missing chunk, else None."""
        if not 0 <= chunk.index < len(self._owner) or chunk.index in self._done:
            raise RuntimeError(f"the engine returned chunk {chunk.index} unexpectedly")
        self._done[chunk.index] = at_output_rate(chunk.samples, chunk.sample_rate)
        text = self._owner[chunk.index]
        indices = range(self._first[text], self._first[text] + self._counts[text])
        if any(index not in self._done for index in indices):
            return None
        self._finished += 1
        return TextAudio(text, joined([self._done.pop(index) for index in indices]))

    def check_complete(self) -> None:
        if self._finished < len(self._counts):
            missing = len(self._counts) - self._finished
            raise RuntimeError(f"the engine stopped with {missing} text(s) unfinished")


def at_output_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if sample_rate == OUTPUT_SAMPLE_RATE:
        return samples
    import soxr

    return soxr.resample(samples, sample_rate, OUTPUT_SAMPLE_RATE).astype(np.float32, copy=False)


def joined(pieces: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def encode_whole(format_name: str, samples: np.ndarray) -> bytes:
    """One text's audio as the whole file /generate would stream for it."""
    encoder = make_encoder(format_name, OUTPUT_SAMPLE_RATE)
    return encoder.encode(samples) + encoder.finish()


def ndjson(event: dict) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


async def batch_events(handle: JobHandle, start: dict, format_name: str, wait_s: float) -> AsyncIterator[bytes]:
    yield ndjson(start)
    last_progress = -PROGRESS_EVERY_S
    try:
        async for event in handle.items(wait_s):
            if isinstance(event, TextAudio):
                # Encoding a long text takes a while: off the event loop, and off the device thread.
                data = await run_in_threadpool(encode_whole, format_name, event.samples)
                yield ndjson(
                    {
                        "type": "item",
                        "index": event.index,
                        "audio": base64.b64encode(data).decode("ascii"),
                        "seconds": round(len(event.samples) / OUTPUT_SAMPLE_RATE, 3),
                    }
                )
            elif isinstance(event, BatchProgress) and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                yield ndjson({"type": "progress", "tokens": event.tokens})
        yield ndjson({"type": "end"})
    except GenerationStopped as stopped:
        # The status is already sent: say why in-band; items sent so far are complete and valid.
        logger.warning("batch generation stopped: %s", stopped.reason)
        if stopped.reason == "timeout":
            yield error_event("generation_timeout", "Generation stalled and was stopped; send the rest again.")
        else:
            yield error_event("cancelled", "The batch was cancelled; send the rest again.")
    except Exception as error:
        logger.exception("batch generation failed mid-stream")
        yield error_event(
            "generation_failed",
            f"Generation failed ({type(error).__name__}); send the texts without an item again, "
            "and see the service log.",
        )
    finally:
        handle.cancel()  # client gone, error, or done: the worker stops at its next token


def error_event(code: str, message: str) -> bytes:
    return ndjson({"type": "error", "code": code, "message": message})
