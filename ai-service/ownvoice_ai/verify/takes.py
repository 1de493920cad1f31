"""One take checked end to end, and the best-of-N rules: which take to keep, how to take again.

check_take: transcribe → align words onto the source text → trim (silence, babble after the last
word) → CER of what is left against the text → speaker similarity to the voice's reference →
verdict. The kept audio, its word timings and the verdict are one `CheckedTake`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..engines.base import SynthesisOptions
from .asr import Transcript, transcribe, transcribe_many
from .check import (
    TimedWord,
    Verdict,
    align,
    character_error_rate,
    judge,
    spoken_form,
)
from .speaker import cosine, speaker_embedding
from .trim import Cut, apply_cut, find_cut

# Each take after the first samples a little cooler (temperature times this, per take): fewer of
# the unlikely tokens that turn into garble, at some cost in expressiveness.
RETAKE_COOLING = 0.85
_SEED_SPACE = 2**63


@dataclass(frozen=True)
class CheckedTake:
    samples: np.ndarray  # trimmed, float32 mono at sample_rate
    sample_rate: int
    words: list[TimedWord]  # the source text's words, seconds into `samples`
    verdict: Verdict
    heard: str  # what the recognizer heard in the kept audio
    take: int = 1  # which take this was (1 = the first)

    def better_than(self, other: CheckedTake | None) -> bool:
        return other is None or self.verdict.score() < other.verdict.score()


def check_take(
    text: str,
    audio: np.ndarray,
    sample_rate: int,
    *,
    language: str = "en",
    speed: float = 1.0,
    reference: np.ndarray | None = None,
    take: int = 1,
) -> CheckedTake:
    """Verify one take of `text`; `reference` is the voice's speaker embedding (None: not checked)."""
    samples = np.asarray(audio, dtype=np.float32)
    transcript = transcribe(samples, sample_rate, language)
    return judge_take(text, samples, sample_rate, transcript, language, speed, reference, take)


def check_takes(
    takes: list[tuple[str, np.ndarray]],
    sample_rate: int,
    *,
    language: str = "en",
    speed: float = 1.0,
    reference: np.ndarray | None = None,
    take: int = 1,
) -> list[CheckedTake]:
    """`check_take` for many (text, audio) takes, heard together in shared windows (cheaper)."""
    clips = [np.asarray(audio, dtype=np.float32) for _, audio in takes]
    transcripts = transcribe_many(clips, sample_rate, language)
    return [
        judge_take(text, clip, sample_rate, transcript, language, speed, reference, take)
        for (text, _), clip, transcript in zip(takes, clips, transcripts, strict=True)
    ]


def judge_take(
    text: str,
    samples: np.ndarray,
    sample_rate: int,
    transcript: Transcript,
    language: str,
    speed: float,
    reference: np.ndarray | None,
    take: int,
) -> CheckedTake:
    """align → trim → CER of what is left → speaker similarity → verdict."""
    alignment = align(text, transcript.words, language, len(samples) / sample_rate)
    timed = alignment.words
    last_heard = max((word.end for word in timed if word.heard), default=None)
    cut = find_cut(samples, sample_rate, last_heard)
    kept = apply_cut(samples, sample_rate, cut)
    # What was heard after the last word of the text is cut away (babble), or was never there
    # (Whisper's "Thank you." in trailing silence): it is not held against the take.
    last = len(transcript.words) - 1 if alignment.last_matched is None else alignment.last_matched
    heard = " ".join(word.text for word in transcript.words[: last + 1])
    reference_form = spoken_form(text, language)
    cer = character_error_rate(reference_form, spoken_form(heard, language))
    similarity = (
        cosine(reference, speaker_embedding(kept, sample_rate)) if reference is not None else None
    )
    verdict = judge(reference_form, cer, similarity, len(kept) / sample_rate, speed)
    duration = len(kept) / sample_rate
    return CheckedTake(kept, sample_rate, shifted(timed, cut, duration), verdict, heard, take)


def shifted(words: list[TimedWord], cut: Cut, duration: float) -> list[TimedWord]:
    """Timings in the trimmed audio: moved by the leading cut, kept inside it."""

    def inside(seconds: float) -> float:
        return min(max(seconds - cut.start, 0.0), duration)

    return [
        dataclasses.replace(word, start=inside(word.start), end=inside(word.end)) for word in words
    ]


def retake_options(options: SynthesisOptions, take: int) -> SynthesisOptions:
    """The options of take number `take` (1 = as asked): a new seed, a little cooler each time."""
    if take <= 1:
        return options
    seed = None if options.seed is None else (options.seed + take - 1) % _SEED_SPACE
    return dataclasses.replace(
        options, seed=seed, temperature=options.temperature * RETAKE_COOLING ** (take - 1)
    )


@dataclass(frozen=True)
class TakeReport:
    """What verification says about the audio a batch item carries."""

    checked: bool
    takes: int = 0
    passed: bool | None = None
    cer: float | None = None
    similarity: float | None = None
    duration_ratio: float | None = None
    reasons: tuple[str, ...] = ()

    @classmethod
    def of(cls, best: CheckedTake, takes: int) -> TakeReport:
        verdict = best.verdict
        return cls(
            True,
            takes,
            verdict.passed,
            verdict.cer,
            verdict.similarity,
            verdict.duration_ratio,
            tuple(verdict.reasons),
        )

    def to_dict(self) -> dict:
        if not self.checked:
            return {"checked": False, "reasons": list(self.reasons)}
        return {
            "checked": True,
            "passed": self.passed,
            "takes": self.takes,
            "cer": round(self.cer or 0.0, 4),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "duration_ratio": round(self.duration_ratio or 0.0, 3),
            "reasons": list(self.reasons),
        }
