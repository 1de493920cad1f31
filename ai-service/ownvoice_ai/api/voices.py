"""Voices: upload a reference (cleaned, conditioning cached once), delete, list the stock voices."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..engines.base import GenerationStopped
from ..errors import Busy, ConditioningFailed, ConditioningTimedOut, UploadTooLarge
from ..prepare import prepare_reference
from ..security import Authorized
from ..synthesis import check_upload_id
from ..synthesis.voices import cloning_ready
from ..worker import QueueFull
from .deps import ServicesDep

logger = logging.getLogger(__name__)
router = APIRouter(dependencies=[Authorized])


async def read_limited(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for part in request.stream():
        body.extend(part)
        if len(body) > limit:
            raise UploadTooLarge(
                f"The upload is over {limit // (1024 * 1024)} MB: send a shorter recording."
            )
    return bytes(body)


@router.get("/stock-voices")
def stock_voices(services: ServicesDep) -> list[dict]:
    return (
        [voice.to_dict() for voice in services.piper.voices()] if services.piper is not None else []
    )


@router.put("/voices/{voice_id}")
async def put_voice(
    voice_id: str, request: Request, services: ServicesDep, language: str = Query("en")
) -> dict:
    check_upload_id(voice_id)
    cloning_ready(services, voice_id)
    data = await read_limited(request, services.settings.max_upload_bytes)
    prepared = await run_in_threadpool(prepare_reference, data)  # VoiceRejected: see errors.py

    def compute():
        yield services.store.save_voice(
            voice_id, prepared.audio, prepared.sample_rate, services.xtts.compute_conditioning
        )

    try:
        handle = services.worker.submit(compute)
    except QueueFull as full:
        raise Busy(
            f"The voice service is busy ({full}); retry shortly.",
            retry_after_s=services.settings.retry_after_s,
        ) from full
    try:
        conditioning = await handle.next(
            services.settings.generation_timeout_s * services.worker.capacity
        )
    except GenerationStopped as stopped:
        raise ConditioningTimedOut("Computing the voice took too long; try again.") from stopped
    except Exception as error:
        logger.exception("computing the conditioning of %s failed", voice_id)
        raise ConditioningFailed(
            f"The voice could not be computed ({type(error).__name__}); see the service log."
        ) from error
    return {
        "voice_id": voice_id,
        "language": language,
        "model_id": conditioning.model_id,
        "conditioning_hash": conditioning.conditioning_hash,
        "report": prepared.report.to_dict(),
    }


@router.delete("/voices/{voice_id}", status_code=204)
def delete_voice(voice_id: str, services: ServicesDep) -> Response:
    check_upload_id(voice_id)
    services.store.delete(voice_id)
    return Response(status_code=204)
