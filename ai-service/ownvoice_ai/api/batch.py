"""POST /generate/batch: many texts in, one whole audio file per text out, as NDJSON events.

Book rendering asks for up to 32 sentences at once. For a cloned voice every text is split into
model-sized chunks, all chunks of all texts go through XTTS together (`render_batch`: one GPT
forward pass per audio token serves the whole batch), and a text's item leaves as soon as its
last chunk is done. Stock voices are rendered one text after another. All of that, up to the
first event, is synthesis.start_batch; this route parses, starts it and writes the events.

Events, one JSON object per line: start, progress (now and then), item (per text, any order),
then end, or error when generation fails after the stream began. Batch jobs queue behind every
waiting /generate request; closing the connection cancels the job.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

import numpy as np
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from ..encode import MEDIA_TYPES, make_encoder
from ..engines.base import BatchProgress, GenerationStopped
from ..security import Authorized
from ..synthesis import OUTPUT_SAMPLE_RATE, TextAudio, start_batch
from ..worker import JobHandle
from .deps import ServicesDep
from .schemas import SynthesisRequest

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


@router.post("/generate/batch")
async def generate_batch(body: BatchRequest, services: ServicesDep) -> StreamingResponse:
    started = await start_batch(services, body.voice_id, body.texts, body.options())
    start = {
        "type": "start",
        "count": len(body.texts),
        "model_id": started.meta.model_id,
        "conditioning_hash": started.meta.conditioning_hash,
        "sample_rate": OUTPUT_SAMPLE_RATE,
        "media_type": MEDIA_TYPES[started.options.format],
    }
    return StreamingResponse(
        batch_events(
            started.handle, start, started.options.format, services.settings.generation_timeout_s
        ),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store"},
    )


def encode_whole(format_name: str, samples: np.ndarray) -> bytes:
    """One text's audio as the whole file /generate would stream for it."""
    encoder = make_encoder(format_name, OUTPUT_SAMPLE_RATE)
    return encoder.encode(samples) + encoder.finish()


def ndjson(event: dict) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


async def batch_events(
    handle: JobHandle, start: dict, format_name: str, wait_s: float
) -> AsyncIterator[bytes]:
    yield ndjson(start)
    last_progress = -PROGRESS_EVERY_S
    try:
        async for event in handle.items(wait_s):
            if isinstance(event, TextAudio):
                # Encoding a long text takes a while: off the event loop, and off the device thread.
                data = await run_in_threadpool(encode_whole, format_name, event.samples)
                yield ndjson(item_event(event, data))
            elif (
                isinstance(event, BatchProgress)
                and time.monotonic() - last_progress >= PROGRESS_EVERY_S
            ):
                last_progress = time.monotonic()
                yield ndjson({"type": "progress", "tokens": event.tokens})
        yield ndjson({"type": "end"})
    except GenerationStopped as stopped:
        # The status is already sent: say why in-band; items sent so far are complete and valid.
        logger.warning("batch generation stopped: %s", stopped.reason)
        if stopped.reason == "timeout":
            yield error_event(
                "generation_timeout", "Generation stalled and was stopped; send the rest again."
            )
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


def item_event(audio: TextAudio, data: bytes) -> dict:
    """One text's item: its encoded audio and, with verification on, the verdict and word times."""
    event = {
        "type": "item",
        "index": audio.index,
        "audio": base64.b64encode(data).decode("ascii"),
        "seconds": round(len(audio.samples) / OUTPUT_SAMPLE_RATE, 3),
    }
    if audio.verification is not None:
        event["verification"] = audio.verification.to_dict()
    if audio.words is not None:
        event["words"] = [word.to_dict() for word in audio.words]
    return event


def error_event(code: str, message: str) -> bytes:
    return ndjson({"type": "error", "code": code, "message": message})
