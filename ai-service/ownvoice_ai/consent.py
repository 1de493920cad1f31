"""Consent, checked: is "I, <name>, agree that Ownvoice may create a synthetic copy of my voice."
heard in a recording, with the name, and in the voice of the rest of the recording?

The transcript's words (faster-whisper, with timings) locate the sentence; the consent segment
is cut by those timings and compared with the rest by speaker similarity (resemblyzer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz

# The sentence after the name: "Ownvoice" may be heard as "own voice", so spaces are ignored.
CONSENT_TAIL = "agree that ownvoice may create a synthetic copy of my voice"
SENTENCE_MIN_SCORE = 80.0  # rapidfuzz partial ratio, 0-100, of the tail in the transcript
NAME_MIN_SCORE = 75.0  # of the name in the words just before the tail
NAME_SLACK_WORDS = 2  # "I" and a word Whisper may split the name into
# resemblyzer, measured on the shared LibriSpeech clips (6 speakers): a clip's first 4 s (as
# long as the consent sentence) against the rest of that speaker's speech scored 0.75-0.92;
# against another speaker 0.45-0.72. The threshold sits between the two.
SAME_SPEAKER_MIN = 0.73

NOT_HEARD = "sentence_not_heard"
NAME_NOT_HEARD = "name_not_heard"
DIFFERENT_SPEAKER = "different_speaker"


@dataclass
class Located:
    """Where the consent sentence was heard: indices into the transcript's words."""

    first: int  # the first word of the sentence, the name included when it was heard
    last: int
    name_heard: bool


@dataclass
class ConsentCheck:
    passed: bool
    problem: str | None
    transcript: str
    speaker_similarity: float | None = None
    segment: tuple[float, float] | None = None  # seconds of the consent sentence
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "problem": self.problem,
            "transcript": self.transcript,
            "speaker_similarity": self.speaker_similarity,
            "segment": list(self.segment) if self.segment else None,
        }


def normalise(word: str) -> str:
    """A word as compared: lower case, letters and digits only ("Ownvoice," is "ownvoice")."""
    return re.sub(r"[^\w]", "", word.lower())


def _joined(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The normalised words without spaces, and each word's span in it."""
    spans, text = [], ""
    for word in words:
        spans.append((len(text), len(text) + len(word)))
        text += word
    return text, spans


def _overlapping(spans: list[tuple[int, int]], start: int, end: int) -> list[int]:
    return [i for i, (a, b) in enumerate(spans) if a < end and b > start]


def locate(words: list[str], name: str) -> Located | None:
    """The consent sentence in the transcript's `words` (fuzzy), or None if it is not there."""
    normal = [normalise(w) for w in words]
    joined, spans = _joined(normal)
    tail = CONSENT_TAIL.replace(" ", "")
    if len(joined) < len(tail) * 0.8:
        return None
    found = fuzz.partial_ratio_alignment(tail, joined)
    if found is None or found.score < SENTENCE_MIN_SCORE:
        return None
    inside = _overlapping(spans, found.dest_start, found.dest_end)
    if not inside:
        return None
    first, last = inside[0], inside[-1]
    name_words = [normalise(w) for w in name.split()]
    window = normal[max(0, first - len(name_words) - NAME_SLACK_WORDS) : first]
    name_heard = bool(window) and (
        fuzz.partial_ratio("".join(name_words), "".join(window)) >= NAME_MIN_SCORE
    )
    if name_heard:
        first = _name_start(normal, first - len(window), first, name_words[0])
    return Located(first, last, name_heard)


def _name_start(normal: list[str], lo: int, hi: int, first_name: str) -> int:
    """The word in normal[lo:hi] most like the name's first word, with the "I" before it."""
    at = max(range(lo, hi), key=lambda i: fuzz.ratio(normal[i], first_name))
    return at - 1 if at > 0 and normal[at - 1] == "i" else at


def _cut(
    audio: np.ndarray, sample_rate: int, start: float, end: float
) -> tuple[np.ndarray, np.ndarray]:
    """(the segment from start to end seconds, the rest of the recording)."""
    a, b = int(start * sample_rate), int(end * sample_rate)
    return audio[a:b], np.concatenate([audio[:a], audio[b:]])


def check_consent(
    audio: np.ndarray, sample_rate: int, name: str, language: str = "en"
) -> ConsentCheck:
    from .verify import transcribe  # noqa: PLC0415 - loads on first use

    transcript = transcribe(audio, sample_rate, language=language)
    words = transcript.words
    located = locate([w.text for w in words], name)
    if located is None:
        return ConsentCheck(False, NOT_HEARD, transcript.text)
    if not located.name_heard:
        return ConsentCheck(False, NAME_NOT_HEARD, transcript.text)
    start, end = words[located.first].start, words[located.last].end
    similarity, same = same_speaker(audio, sample_rate, start, end)
    return ConsentCheck(
        same, None if same else DIFFERENT_SPEAKER, transcript.text, similarity, (start, end)
    )


def same_speaker(
    audio: np.ndarray, sample_rate: int, start: float, end: float
) -> tuple[float, bool]:
    """The speaker similarity of the segment from `start` to `end` seconds to the rest of the
    recording, and whether that is the same speaker."""
    from .verify import speaker_similarity  # noqa: PLC0415 - loads on first use

    segment, rest = _cut(audio, sample_rate, start, end)
    similarity = float(speaker_similarity(segment, sample_rate, rest, sample_rate))
    return similarity, similarity >= SAME_SPEAKER_MIN
