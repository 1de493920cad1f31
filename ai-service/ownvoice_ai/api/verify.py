"""POST /verify: hear one finished take of a text (the app server's check of live sentences).

A sentence spoken live (/generate) leaves before anyone listens to it; once it is complete and
cached, the app server sends its audio here, off the listener's path. The take is checked as a
batch item is (verify.check_take: transcript, word timings on the source text, trim, CER, speaker
similarity to the voice's reference) on the device worker at batch priority, so it never runs
beside a generation and a listener's /generate goes first.

Answers `{"verification": {...}, "words": [...]}`: the verdict as a batch item carries it, and
the text's word timings in the audio as sent (not trimmed: the listener heard it so). For a
language the recognizer does not hear: `{"verification": {"checked": false, "reasons": [...]}}`.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Query, Request

from ..conditioning import read_wav
from ..prepare import VoiceRejected
from ..security import Authorized
from ..services import Services
from ..synthesis.voices import VoiceKind, known_voice
from ..verify import align_words, transcribe
from ..verify.asr import recognizer
from ..verify.speaker import cached_embedding
from ..verify.takes import TakeReport, judge_take
from ..worker import Priority
from .deps import ServicesDep
from .listen import run_on_worker
from .voices import read_limited

router = APIRouter(dependencies=[Authorized])

MAX_VERIFY_SECONDS = 120  # one sentence: far more than the model speaks in one call


@router.post("/verify")
async def verify_take(
    request: Request,
    services: ServicesDep,
    text: str = Query(min_length=1, max_length=5000),
    voice_id: str = Query(min_length=1, max_length=128),
    language: str = Query("en", max_length=16),
    speed: float = Query(1.0, ge=0.25, le=4.0),
    sample_rate: int = Query(24000, ge=8000, le=48000),
) -> dict:
    """Body: s16le mono PCM at `sample_rate` of `text` said in voice `voice_id`."""
    voice = known_voice(services, voice_id)  # 404 an unknown voice, before reading the body
    data = await read_limited(request, MAX_VERIFY_SECONDS * sample_rate * 2)
    if len(data) % 2:
        raise VoiceRejected("unreadable_audio", "PCM must be whole 16-bit samples.", 415)
    audio = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0

    def run() -> dict:
        return hear(services, voice.voice_id, voice.kind, text, audio, sample_rate, language, speed)

    return await run_on_worker(
        services,
        run,
        priority=Priority.BATCH,
        too_long="Hearing the take took too long; try again.",
    )


def hear(
    services: Services,
    voice_id: str,
    kind: VoiceKind,
    text: str,
    audio: np.ndarray,
    sample_rate: int,
    language: str,
    speed: float,
) -> dict:
    if not recognizer().hears(language):
        reason = f"The recognizer does not hear '{language}': set OWNVOICE_ASR_MODEL."
        return {"verification": TakeReport(False, reasons=(reason,)).to_dict()}
    reference = None if kind is VoiceKind.STOCK else reference_embedding(services, voice_id)
    transcript = transcribe(audio, sample_rate, language)
    # The words in the audio as sent (the listener heard it so, and the cache keeps it as is);
    # the verdict as a batch item's, on the trimmed take.
    words = align_words(text, transcript.words, language, len(audio) / sample_rate)
    take = judge_take(text, audio, sample_rate, transcript, language, speed, reference, 1)
    return {
        "verification": TakeReport.of(take, 1).to_dict(),
        "words": [word.to_dict() for word in words],
    }


def reference_embedding(services: Services, voice_id: str) -> np.ndarray:
    """The clone's reference d-vector, embedded once per conditioning (as a batch job does)."""
    conditioning = services.store.get(voice_id, services.xtts.compute_conditioning)
    path = services.store.reference_path(voice_id)
    return cached_embedding(conditioning.conditioning_hash, lambda: read_wav(path.read_bytes()))
