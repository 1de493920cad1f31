"""Speech with character timings, in ElevenLabs' `with-timestamps` shape.

The text is spoken sentence by sentence (each one through the audio cache like any other
speech). A sentence whose cache entry was heard already (a render job, a live play heard
afterwards, `verify: true`) has its words' times in the entry; only a sentence without them
is listened to again by the inference service (POST /align). Each character gets a time: a
word's span is shared among its characters, and the characters between words (spaces, a
paragraph break) share the gap between them. The characters of all chunks together spell the
input text exactly.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from app.services.books.segment import split_sentences
from app.services.inference_client import InferenceClient
from app.services.speech import SpeechRequest, Synthesizer, VoiceTarget
from app.services.transcode import BYTES_PER_SAMPLE, SOURCE_RATE, OutputFormat, PcmTranscoder


@dataclass
class Alignment:
    characters: list[str]
    starts: list[float]
    ends: list[float]

    def to_json(self) -> dict[str, Any]:
        return {
            "characters": self.characters,
            "character_start_times_seconds": self.starts,
            "character_end_times_seconds": self.ends,
        }


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _span(text: str, sentence: str, i: int) -> tuple[int, int] | None:
    """Where `sentence` (whitespace-normalised) starts and ends in `text`, from `i` on."""
    i = start = _skip_spaces(text, i)
    for char in sentence:
        if char == " ":
            i = _skip_spaces(text, i)
        elif i < len(text) and text[i] == char:
            i += 1
        else:
            return None
    return start, i


def chunks_of(text: str, language: str) -> list[str]:
    """`text` cut at its sentences; the whitespace after a sentence stays with it, so that
    the pieces joined are `text` again."""
    starts, at = [], 0
    for sentence in split_sentences(text, language):
        span = _span(text, sentence, at)
        if span is None:
            return [text]
        starts.append(span[0])
        at = span[1]
    if not starts:
        return [text]
    starts[0] = 0
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _share(start: float, end: float, count: int) -> list[tuple[float, float]]:
    step = (end - start) / count if count else 0.0
    return [(start + step * k, start + step * (k + 1)) for k in range(count)]


def character_times(
    chunk: str, words: list[dict[str, Any]], duration: float, offset: float
) -> Alignment:
    """Each character of `chunk` with its start/end seconds (plus `offset`)."""
    times: list[tuple[float, float]] = []
    at, last_end = 0, 0.0
    for word in [*words, {"char_start": len(chunk), "char_end": len(chunk), "start": duration}]:
        gap = word["char_start"] - at
        times += _share(last_end, max(word["start"], last_end), gap)
        if "end" in word:
            times += _share(word["start"], word["end"], word["char_end"] - word["char_start"])
            last_end = word["end"]
        at = word["char_end"]
    return Alignment(
        list(chunk),
        [round(offset + a, 3) for a, _ in times],
        [round(offset + b, 3) for _, b in times],
    )


@dataclass
class TimedChunk:
    audio: bytes  # in the requested output format
    alignment: Alignment

    def to_json(self) -> dict[str, Any]:
        alignment = self.alignment.to_json()
        return {
            "audio_base64": base64.b64encode(self.audio).decode("ascii"),
            "alignment": alignment,
            # No separate text normalisation here: the engines read the text as written.
            "normalized_alignment": alignment,
        }


async def _pcm(
    synth: Synthesizer, target: VoiceTarget, request: SpeechRequest
) -> tuple[bytes, list[dict[str, Any]] | None]:
    """The sentence's PCM, and its cached word timings when it was heard already."""
    audio = await synth.speak(target, request)
    return b"".join([part async for part in audio.body]), audio.words


def cached_words(sentence: str, words: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """A cache entry's words (`{word, start, end, offset}`, offsets in `sentence`) as /align
    answers them (`char_start`, `char_end`); None when they do not fit `sentence`."""
    timed = []
    for word in words:
        try:
            start, end = word["offset"], word["offset"] + len(word["word"])
            fits = sentence[start:end] == word["word"]
            times = float(word["start"]), float(word["end"])
        except (KeyError, TypeError, ValueError):
            return None
        if not fits:
            return None
        timed.append({"char_start": start, "char_end": end, "start": times[0], "end": times[1]})
    return timed


async def _words(
    inference: InferenceClient,
    pcm: bytes,
    piece: str,
    language: str,
    cached: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """The words of `piece` timed in `pcm`, their characters counted in `piece`: the cache
    entry's words when they fit, else as the inference service hears them now."""
    lead = len(piece) - len(piece.lstrip())
    words = cached_words(piece.strip(), cached) if cached else None
    if words is None:
        words = (await inference.align(pcm, SOURCE_RATE, piece.strip(), language))["words"]
    return [
        {**w, "char_start": w["char_start"] + lead, "char_end": w["char_end"] + lead} for w in words
    ]


async def timed_chunks(
    synth: Synthesizer,
    inference: InferenceClient,
    target: VoiceTarget,
    speech: SpeechRequest,
    output: OutputFormat,
) -> AsyncGenerator[TimedChunk, None]:
    """The speech of `speech.text`, one chunk per sentence, with character timings from the
    start of the whole audio."""
    language = speech.language or target.language or "en"
    encoder = None if output.is_source_pcm else PcmTranscoder(output)
    pieces, offset = chunks_of(speech.text, language), 0.0
    for index, piece in enumerate(pieces):
        sentence = dataclasses.replace(
            speech, text=piece.strip(), native_format="pcm_24000", transcode_to=None
        )
        pcm, cached = await _pcm(synth, target, sentence) if sentence.text else (b"", None)
        duration = len(pcm) / BYTES_PER_SAMPLE / SOURCE_RATE
        words = await _words(inference, pcm, piece, language, cached) if pcm else []
        audio = pcm
        if encoder is not None:
            audio = encoder.feed(pcm) + (encoder.flush() if index == len(pieces) - 1 else b"")
        yield TimedChunk(audio, character_times(piece, words, duration, offset))
        offset += duration


def join_chunks(chunks: list[TimedChunk]) -> TimedChunk:
    """The chunks as one answer (POST .../with-timestamps)."""
    return TimedChunk(
        b"".join(c.audio for c in chunks),
        Alignment(
            [x for c in chunks for x in c.alignment.characters],
            [x for c in chunks for x in c.alignment.starts],
            [x for c in chunks for x in c.alignment.ends],
        ),
    )
