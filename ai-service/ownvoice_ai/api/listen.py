"""Listening to audio: the consent check of a voice recording, and word timings of a text in
audio of it (for the app server's ElevenLabs `with-timestamps` routes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from fastapi import APIRouter, Query, Request

from ..consent import check_consent
from ..engines.base import GenerationStopped
from ..errors import Busy, GenerationFailed
from ..prepare import REFERENCE_SAMPLE_RATE, VoiceRejected, _decode_or_reject
from ..security import Authorized
from ..services import Services
from ..worker import Priority, QueueFull
from .deps import ServicesDep
from .voices import read_limited

router = APIRouter(dependencies=[Authorized])


async def run_on_worker(
    services: Services,
    work: Callable[[], dict],
    *,
    priority: Priority = Priority.INTERACTIVE,
    too_long: str = "Listening to the audio took too long; try again.",
) -> dict:
    """Run `work` on the device worker: recognition never runs beside a generation."""

    def produce() -> Iterator[dict]:
        yield work()

    try:
        handle = services.worker.submit(produce, priority=priority)
    except QueueFull as full:
        raise Busy(
            f"The voice service is busy ({full}); retry shortly.",
            retry_after_s=services.settings.retry_after_s,
        ) from full
    try:
        return await handle.next(services.settings.generation_timeout_s * services.worker.capacity)
    except GenerationStopped as stopped:
        raise GenerationFailed(too_long) from stopped
    finally:
        handle.cancel()


MAX_ALIGN_SECONDS = 15 * 60


@router.post("/consent/check")
async def consent_check(
    request: Request,
    services: ServicesDep,
    name: str = Query(min_length=1, max_length=100),
    language: str = Query("en", max_length=16),
) -> dict:
    """Body: the recording (any common format). Answers {passed, problem, transcript,
    speaker_similarity, segment}; problem is sentence_not_heard, name_not_heard or
    different_speaker."""
    data = await read_limited(request, services.settings.max_upload_bytes)

    def run() -> dict:
        audio = _decode_or_reject(data)  # VoiceRejected: 413/415 as for PUT /voices
        return check_consent(audio, REFERENCE_SAMPLE_RATE, name, language).to_dict()

    return await run_on_worker(services, run)


@router.post("/align")
async def align(
    request: Request,
    services: ServicesDep,
    text: str = Query(min_length=1, max_length=1000),
    language: str = Query("en", max_length=16),
    sample_rate: int = Query(24000, ge=8000, le=48000),
) -> dict:
    """Body: s16le mono PCM at `sample_rate` of `text` being said. Answers {duration, words:
    [{text, char_start, char_end, start, end, heard}]}: every word of `text` (punctuation
    around it dropped), in order, timed as heard (verify.align_words)."""
    limit = MAX_ALIGN_SECONDS * sample_rate * 2
    data = await read_limited(request, limit)
    if len(data) % 2:
        raise VoiceRejected("unreadable_audio", "PCM must be whole 16-bit samples.", 415)

    def run() -> dict:
        from ..verify import align_words, transcribe  # noqa: PLC0415 - loads on first use

        audio = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        duration = len(audio) / sample_rate
        heard = transcribe(audio, sample_rate, language=language).words
        words = align_words(text, heard, language, duration)
        return {"duration": duration, "words": [_word(w) for w in words]}

    return await run_on_worker(services, run)


def _word(word) -> dict:
    """A timed word with its characters in the text: [char_start, char_end)."""
    return {
        "text": word.text,
        "char_start": word.offset,
        "char_end": word.offset + len(word.text),
        "start": round(word.start, 3),
        "end": round(word.end, 3),
        "heard": word.heard,
    }
