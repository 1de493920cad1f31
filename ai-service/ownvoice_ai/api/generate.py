"""POST /generate: text in, audio streamed out as it is produced.

The route parses the request, starts the synthesis (synthesis.start_stream: voice, chunks, job,
queue, first event; its errors become HTTP answers in errors.py) and streams encoded audio. When
the client goes away the job's StopSignal is cancelled and the token loop stops within one step.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import Field

from ..encode import make_encoder
from ..engines.base import GenerationStopped
from ..security import Authorized
from ..synthesis import OUTPUT_SAMPLE_RATE, start_stream
from ..worker import JobHandle
from .deps import ServicesDep
from .schemas import SynthesisRequest

logger = logging.getLogger(__name__)
router = APIRouter(dependencies=[Authorized])


class GenerateRequest(SynthesisRequest):
    text: str = Field(min_length=1)
    voice_id: str | None = None
    speaker_wav_path: str | None = None


@router.post("/generate")
async def generate(body: GenerateRequest, services: ServicesDep) -> StreamingResponse:
    started = await start_stream(
        services, body.text, body.options(), body.voice_id, body.speaker_wav_path
    )
    headers = {
        "X-Sample-Rate": str(OUTPUT_SAMPLE_RATE),
        "X-Model-Id": started.meta.model_id,
        "X-Conditioning-Hash": started.meta.conditioning_hash,
        "Cache-Control": "no-store",
    }
    encoder = make_encoder(started.options.format, OUTPUT_SAMPLE_RATE)
    return StreamingResponse(
        encoded_stream(started.handle, encoder, services.settings.generation_timeout_s),
        media_type=encoder.media_type,
        headers=headers,
    )


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
