"""Did the take say the text? Spoken forms, character error rate, word timings, the verdict.

Both sides are read the way the TTS normaliser reads text (text.normalize: numbers, currency,
abbreviations, symbols), then case-folded with punctuation dropped, so "In 1851, Dr. Smith" and
Whisper's "in eighteen fifty-one doctor Smith" are the same words. The alignment is done on those
spoken tokens (a minimal word-level edit alignment, jiwer's) and mapped back onto the SOURCE
text's words: the timing of "1851" spans Whisper's "eighteen fifty-one".

Thresholds: measured by scripts/measure_verification.py (see README.md, "Verification"). Correct
speech (LJ Speech read aloud, Piper renders of book sentences) stays below these CERs; short
sentences get more slack, since one misheard word is a larger share of them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import jiwer

from ..text import normalize
from .asr import Word

# (longest spoken reference in characters, highest passing CER), shortest first; the last bucket
# has no upper length. Measured by scripts/measure_verification.py (README.md "Verification"): the
# bundled tiny.en's CER on correct speech (LJ Speech, Piper renders of Alice sentences) was at
# most 0.27 up to 20 characters, 0.32 up to 60 (0.18 without a broken word in the EPUB) and 0.16
# beyond; on speech of another sentence at least 0.53, 0.66 and 0.67.
CER_THRESHOLDS: tuple[tuple[float, float], ...] = ((20, 0.40), (60, 0.35), (float("inf"), 0.25))
# Below this resemblyzer similarity to the voice's reference, the take drifted to another speaker
# (the same LibriSpeech speaker scored 0.81-0.96 against itself, different speakers 0.46-0.67).
SIMILARITY_THRESHOLD = 0.70
# A take longer than this many times its expected duration rambles (or repeats itself).
MAX_DURATION_RATIO = 2.0
# The expected duration of a sentence at speed 1.0: its spoken characters (spaces included) at
# this rate, plus the pauses around it. Correct speech measured 0.78 of that (median), 1.4 at most.
SPOKEN_CHARS_PER_SECOND = 16.0
EXPECTED_PAUSE_SECONDS = 0.5

_DASHES = re.compile(r"[-\u2010-\u2015\u2212/]")
_NOT_WORD = re.compile(r"[^\w\s]|_")


@dataclass(frozen=True)
class SourceWord:
    """A word of the source text, punctuation around it dropped; [start, end) are its characters.
    `written` keeps the punctuation, which the normaliser reads ("Dr." is "Doctor")."""

    text: str
    start: int
    end: int
    written: str


@dataclass(frozen=True)
class TimedWord:
    """A source word and when it is heard, in seconds. `heard` is False when the recognizer did
    not hear it: its times are then interpolated between its neighbours."""

    text: str
    start: float
    end: float
    offset: int  # its first character in the source text
    heard: bool = True

    def to_dict(self) -> dict:
        return {
            "word": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "offset": self.offset,
            "heard": self.heard,
        }


@dataclass(frozen=True)
class Verdict:
    cer: float
    similarity: float | None  # None: no reference to compare with (a stock voice)
    duration_ratio: float
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def score(self) -> tuple:
        """Lower is better: a passing take, then the lowest CER, then the most similar."""
        return (not self.passed, self.cer, -(self.similarity or 0.0), self.duration_ratio)


# --- spoken forms -----------------------------------------------------------------------------


def spoken_tokens(text: str, language: str) -> list[str]:
    """`text` as the TTS normaliser reads it, case-folded, punctuation gone, split into words."""
    spoken = normalize(text, language)
    spoken = unicodedata.normalize("NFKC", spoken).casefold().replace("'", "").replace("’", "")
    return _NOT_WORD.sub(" ", _DASHES.sub(" ", spoken)).split()


def spoken_form(text: str, language: str) -> str:
    return " ".join(spoken_tokens(text, language))


def source_words(text: str) -> list[SourceWord]:
    """The words of the source text as a reader sees them, without surrounding punctuation."""
    found = []
    for match in re.finditer(r"\S+", text):
        raw = match.group(0)
        lead = len(raw) - len(raw.lstrip(_PUNCTUATION))
        core = raw.strip(_PUNCTUATION)
        if core:
            start = match.start() + lead
            found.append(SourceWord(core, start, start + len(core), raw))
    return found


_PUNCTUATION = "".join(
    chr(c) for c in range(0x3000) if unicodedata.category(chr(c)).startswith("P")
)


def character_error_rate(reference: str, heard: str) -> float:
    """CER of what was heard against what was meant (both spoken forms); 1.0 for nothing heard."""
    if not reference:
        return 0.0 if not heard else 1.0
    if not heard:
        return 1.0
    return float(jiwer.cer(reference, heard))


# --- word timings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Alignment:
    words: list[TimedWord]  # every source word, timed
    last_matched: int | None  # the last heard word matched to a source word (None: none was)


def align_words(text: str, heard: list[Word], language: str, duration: float) -> list[TimedWord]:
    """Each source word of `text` with the time it is heard in audio of `duration` seconds."""
    return align(text, heard, language, duration).words


def align(text: str, heard: list[Word], language: str, duration: float) -> Alignment:
    """Source words timed by the heard words (see `align_words`), and the last heard word matched.

    Tokens of the source's spoken form are aligned to the heard tokens; a source word takes the
    span of the heard words its tokens align to. Unheard words are placed between their
    neighbours. The times are monotonic and inside [0, duration].
    """
    words = source_words(text)
    ref = [
        (i, token)
        for i, word in enumerate(words)
        for token in spoken_tokens(word.written, language)
    ]
    hyp = [
        (j, token) for j, word in enumerate(heard) for token in spoken_tokens(word.text, language)
    ]
    spans: list[list[int]] = [[] for _ in words]
    for r, h in matched_pairs([token for _, token in ref], [token for _, token in hyp]):
        spans[ref[r][0]].append(hyp[h][0])
    timed = [
        (min(heard[j].start for j in span), max(heard[j].end for j in span)) if span else None
        for span in spans
    ]
    last = max((j for span in spans for j in span), default=None)
    return Alignment(_monotonic(words, timed, duration), last)


def matched_pairs(reference: list[str], hypothesis: list[str]) -> list[tuple[int, int]]:
    """(reference, hypothesis) token index pairs that a minimal edit alignment matches or
    substitutes; inserted and deleted tokens have no pair."""
    if not reference or not hypothesis:
        return []
    output = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    return [
        (chunk.ref_start_idx + k, chunk.hyp_start_idx + k)
        for chunk in output.alignments[0]
        if chunk.type in ("equal", "substitute")
        for k in range(chunk.ref_end_idx - chunk.ref_start_idx)
    ]


def _monotonic(
    words: list[SourceWord], timed: list[tuple[float, float] | None], duration: float
) -> list[TimedWord]:
    """Times that never go back, inside the audio; unheard words share the gap they fall in."""
    result: list[TimedWord] = []
    index = 0
    previous_end = 0.0
    while index < len(words):
        if timed[index] is None:  # a run of unheard words: spread over the gap to the next heard
            run_end = index
            while run_end < len(words) and timed[run_end] is None:
                run_end += 1
            gap_end = timed[run_end][0] if run_end < len(words) else duration  # type: ignore[index]
            gap_end = min(max(gap_end, previous_end), duration)
            step = (gap_end - previous_end) / (run_end - index)
            for k in range(index, run_end):
                start = previous_end + step * (k - index)
                result.append(_timed(words[k], start, start + step, heard=False))
            previous_end, index = gap_end, run_end
            continue
        start, end = timed[index]  # type: ignore[misc]
        start = min(max(start, previous_end), duration)
        end = min(max(end, start), duration)
        result.append(_timed(words[index], start, end))
        previous_end = end
        index += 1
    return result


def _timed(word: SourceWord, start: float, end: float, heard: bool = True) -> TimedWord:
    return TimedWord(word.text, start, end, word.start, heard)


# --- the verdict ------------------------------------------------------------------------------


def cer_threshold(reference: str) -> float:
    """The highest passing CER for a sentence whose spoken form is `reference`."""
    return next(limit for longest, limit in CER_THRESHOLDS if len(reference) <= longest)


def expected_seconds(reference: str, speed: float = 1.0) -> float:
    spoken = len(reference) / SPOKEN_CHARS_PER_SECOND + EXPECTED_PAUSE_SECONDS
    return spoken / max(speed, 0.05)


def judge(
    reference: str, cer: float, similarity: float | None, seconds: float, speed: float = 1.0
) -> Verdict:
    """Pass or fail, with the reasons a take failed."""
    ratio = seconds / max(expected_seconds(reference, speed), 1e-6)
    reasons = []
    limit = cer_threshold(reference)
    if cer > limit:
        reasons.append(f"character error rate {cer:.2f} is above {limit:.2f}")
    if similarity is not None and similarity < SIMILARITY_THRESHOLD:
        reasons.append(f"speaker similarity {similarity:.2f} is below {SIMILARITY_THRESHOLD:.2f}")
    if ratio > MAX_DURATION_RATIO:
        reasons.append(f"the take is {ratio:.1f} times its expected length")
    return Verdict(cer, similarity, ratio, not reasons, reasons)
