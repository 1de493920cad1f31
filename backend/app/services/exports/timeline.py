"""The common input of every export format: each chapter's audio and each sentence's times.

`assemble` (in this package) lays the cached sentence audio of a chapter end to end with
pauses and records where every sentence starts and ends; the M4B, MP3, subtitle and EPUB
read-along writers all read these timings, so they agree to the sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The prefix of every temporary file an export writes (swept at start: app.main).
PARTIAL = ".partial-"


@dataclass(frozen=True)
class WordTiming:
    """One word of a sentence as the recognizer timed it (the cache entry's `words`): the word,
    its first character in the sentence's text, and its times in the chapter's audio."""

    word: str
    offset: int
    start: float
    end: float


@dataclass(frozen=True)
class SentenceTiming:
    """One sentence of a chapter: its book id, its text, and its times in the chapter's
    audio, in seconds from the chapter's start (end excludes the pause after it); its words'
    times when the sentence was heard (empty otherwise)."""

    sentence_id: str
    text: str
    start: float
    end: float
    words: tuple[WordTiming, ...] = ()


@dataclass
class ChapterAudio:
    """One chapter's audio file (M4A or MP3) and the timings of its sentences in order."""

    chapter_id: str
    title: str
    audio_path: Path
    duration: float  # seconds, the whole file including its pauses
    sentences: list[SentenceTiming] = field(default_factory=list)
