"""From a request's voice, texts and options to a running job whose stream header has arrived.

`start_stream` (POST /generate) and `start_batch` (POST /generate/batch) are the whole pipeline:
resolve the voice (its kind decides the engine), split the texts for that engine, build the job,
queue it on the device worker (listeners before batches) and wait for its first event, so that
early failures are still domain errors the API can answer with a status code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..engines.base import GenerationStopped, StopSignal, SynthesisOptions
from ..engines.xtts import TextTooLong, UnsupportedLanguage
from ..errors import (
    Busy,
    CancelledBeforeStart,
    GenerationFailed,
    InvalidText,
    StartTimedOut,
    TooMuchText,
    UnknownVoice,
)
from ..services import Services
from ..worker import JobHandle, Priority, QueueFull
from . import jobs
from .jobs import Job, Meta
from .options import with_stop
from .text import stock_chunks, xtts_chunks
from .verified import BestOf
from .voices import Voice, VoiceKind, known_voice, resolve_voice

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """A queued job that has produced its stream header: iterate `handle`; cancel it when done."""

    handle: JobHandle
    meta: Meta
    options: SynthesisOptions


async def start_stream(
    services: Services,
    text: str,
    options: SynthesisOptions,
    voice_id: str | None,
    speaker_wav_path: str | None = None,
) -> Started:
    """One text, streamed to someone listening (interactive priority)."""
    if len(text) > services.settings.max_text_chars:
        raise TooMuchText(
            f"Send at most {services.settings.max_text_chars} characters per request."
        )
    voice = resolve_voice(services, voice_id, speaker_wav_path)
    options = with_stop(options, StopSignal())
    if voice.kind is VoiceKind.STOCK:
        [chunks] = await stock_chunks(services, voice.voice_id, [text])
        produce = jobs.stock_stream_job(services, voice.voice_id, chunks, options)
    else:
        [tokenized] = await xtts_chunks(services, [text], options.language)
        produce = jobs.xtts_stream_job(services, voice.voice_id, tokenized, options)
    return await _start(services, produce, options, Priority.INTERACTIVE)


async def start_batch(
    services: Services, voice_id: str, texts: list[str], options: SynthesisOptions
) -> Started:
    """Many texts rendered ahead (batch priority): whole audio per text, in any order."""
    voice: Voice = known_voice(services, voice_id)
    options = with_stop(options, StopSignal())
    takes = batch_takes(services, texts)
    if voice.kind is VoiceKind.STOCK:
        per_text = await stock_chunks(services, voice.voice_id, texts)
        produce = jobs.stock_batch_job(services, voice.voice_id, per_text, options, takes)
    else:
        tokenized = await xtts_chunks(services, texts, options.language)
        produce = jobs.xtts_batch_job(services, voice.voice_id, tokenized, options, takes)
    return await _start(services, produce, options, Priority.BATCH)


def batch_takes(services: Services, texts: list[str]) -> jobs.Takes:
    """Best of OWNVOICE_VERIFY_TAKES verified takes, or one take when OWNVOICE_VERIFY is off."""
    if services.settings.verify:
        return BestOf(texts, services.settings.verify_takes)
    return jobs.one_take(len(texts))


async def _start(
    services: Services, produce: Job, options: SynthesisOptions, priority: Priority
) -> Started:
    assert options.stop is not None
    handle = queue_job(services, produce, options.stop, priority)
    return Started(handle, await first_event(handle, services), options)


def queue_job(services: Services, produce: Job, stop: StopSignal, priority: Priority) -> JobHandle:
    try:
        return services.worker.submit(produce, stop, priority)
    except QueueFull as full:
        raise Busy(
            f"Too many requests are queued ({full}); retry shortly.",
            retry_after_s=services.settings.retry_after_s,
        ) from full


async def first_event(handle: JobHandle, services: Services) -> Meta:
    wait = services.settings.generation_timeout_s * services.worker.capacity
    try:
        event = await handle.next(wait)
    except StopAsyncIteration:
        raise CancelledBeforeStart(
            "The request was cancelled before it started; send it again."
        ) from None
    except FileNotFoundError:
        raise UnknownVoice("No such voice: upload it with PUT /voices/{voice_id} first.") from None
    except (UnsupportedLanguage, TextTooLong) as error:
        raise InvalidText(f"{error}. Check the language and text.") from error
    except GenerationStopped as stopped:
        handle.cancel()
        raise StartTimedOut(
            "Generation did not start in time; retry, or send shorter text.",
            retry_after_s=services.settings.retry_after_s,
        ) from stopped
    except Exception as error:
        handle.cancel()
        logger.exception("generation failed before the first audio")
        raise GenerationFailed(
            f"Generation failed ({type(error).__name__}); see the service log."
        ) from error
    if not isinstance(event, Meta):
        handle.cancel()
        raise GenerationFailed("The engine produced no stream header; see the service log.")
    return event
