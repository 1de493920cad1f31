"""Lay a chapter's cached sentence audio end to end with pauses, and time every sentence.

The audio cache holds each sentence as the reader plays it: raw 16-bit mono PCM at 24 kHz
(`pcm_24000`). A chapter is its sentences in reading order with a short pause between two
sentences, a longer one where a paragraph ends, and a chapter pause after its last sentence
(none before its first, so a chapter mark is exactly where its first sentence starts). The
timings are computed from the files' sizes before any audio is read, in whole samples, and
`pcm_chunks` then streams the same samples: the timeline and the audio cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.services.exports.timeline import SentenceTiming, WordTiming

SAMPLE_RATE = 24000
SAMPLE_BYTES = 2  # s16le, mono
CHUNK_SAMPLES = 24000  # a second at a time: memory does not grow with the book


@dataclass(frozen=True)
class Pauses:
    """Silence, in seconds, after a sentence, after a paragraph's last sentence, and after a
    chapter's last sentence. The defaults are the pacing of a narrated audiobook."""

    sentence: float = 0.4
    paragraph: float = 0.9
    chapter: float = 2.0

    def samples(self, seconds: float) -> int:
        return round(seconds * SAMPLE_RATE)


@dataclass(frozen=True)
class SentenceAudio:
    """One sentence to lay out: its cached PCM, or None when it was skipped (nothing
    speakable in it; it gets no time and no cue)."""

    sentence_id: str
    text: str
    paragraph_id: str
    pcm: Path | None
    words: list[dict[str, Any]] | None = None  # the cache entry's word timings, if heard


@dataclass
class ChapterTimeline:
    """A chapter laid out: the pieces to play in order (a PCM file, or None for silence, and its
    length in samples), its length in samples, and each sentence's times."""

    chapter_id: str
    title: str
    samples: int = 0
    pieces: list[tuple[Path | None, int]] = field(default_factory=list)  # None: silence
    sentences: list[SentenceTiming] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.samples / SAMPLE_RATE

    def _add(self, piece: Path | None, samples: int) -> None:
        self.pieces.append((piece, samples))
        self.samples += samples


def lay_out(
    chapter_id: str, title: str, sentences: list[SentenceAudio], pauses: Pauses
) -> ChapterTimeline:
    """The chapter's timeline; a chapter without audio is just its chapter pause."""
    timeline = ChapterTimeline(chapter_id, title)
    spoken = [s for s in sentences if s.pcm is not None]
    for n, sentence in enumerate(spoken):
        assert sentence.pcm is not None
        length = sentence.pcm.stat().st_size // SAMPLE_BYTES
        start = timeline.samples
        timeline._add(sentence.pcm, length)
        timeline.sentences.append(
            SentenceTiming(
                sentence.sentence_id,
                sentence.text,
                start / SAMPLE_RATE,
                timeline.samples / SAMPLE_RATE,
                word_timings(sentence.words, start / SAMPLE_RATE, length / SAMPLE_RATE),
            )
        )
        if n + 1 == len(spoken):
            pause = pauses.chapter
        elif spoken[n + 1].paragraph_id != sentence.paragraph_id:
            pause = pauses.paragraph
        else:
            pause = pauses.sentence
        timeline._add(None, pauses.samples(pause))
    if not spoken:
        timeline._add(None, pauses.samples(pauses.chapter))
    return timeline


def word_timings(
    words: list[dict[str, Any]] | None, start: float, length: float
) -> tuple[WordTiming, ...]:
    """The cache entry's words (seconds in the sentence's own audio) moved to the chapter's
    time: kept inside the sentence and in order. A malformed list gives no words at all, so
    the sentence is played whole rather than partly word by word."""
    timed: list[WordTiming] = []
    previous = 0.0
    try:
        for word in words or []:
            begin = min(max(float(word["start"]), previous), length)
            end = min(max(float(word["end"]), begin), length)
            timed.append(
                WordTiming(str(word["word"]), int(word["offset"]), start + begin, start + end)
            )
            previous = begin
    except (TypeError, KeyError, ValueError):
        return ()
    return tuple(timed)


def pcm_chunks(timeline: ChapterTimeline) -> Iterator[bytes]:
    """The chapter's PCM, a bounded chunk at a time, exactly `timeline.samples` long."""
    chunk_bytes = CHUNK_SAMPLES * SAMPLE_BYTES
    for piece, samples in timeline.pieces:
        length = samples * SAMPLE_BYTES
        if piece is None:
            while length:
                size = min(length, chunk_bytes)
                yield bytes(size)
                length -= size
            continue
        with piece.open("rb") as source:
            while length:
                data = source.read(min(length, chunk_bytes))
                if not data:
                    raise OSError(f"{piece.name} shrank while it was read")
                length -= len(data)
                yield data
