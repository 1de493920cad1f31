"""Best of N takes for a batch: every text's audio heard, failing texts rendered again.

A batch job renders its texts (`Render`: the engine's job for some of the texts, with options);
with verification on, finished texts are checked (verify.check_takes) on the worker thread,
between two renders, never beside one, a recognition window (about 28 s of audio) at a time:
Whisper's cost is per window, so a window holds as many texts as fit. A text that passes leaves
at once; the texts that fail are rendered again together with the next take's options (a new
seed, a little cooler), up to `takes` takes. A text that fails every take leaves with its best take, marked as failed.

Verification runs where the recognizer hears the language (the bundled tiny.en: English); other
languages' items say they were not checked, and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engines.base import SynthesisOptions
from ..verify import CheckedTake, retake_options
from ..verify.asr import PACK_GAP_SECONDS, PACK_WINDOW_SECONDS, recognizer
from ..verify.takes import TakeReport, check_takes
from .audio import OUTPUT_SAMPLE_RATE
from .jobs import Heartbeat, Reference, Render, TextAudio


@dataclass(frozen=True)
class BestOf:
    """A batch job's `Takes` with verification: up to `takes` takes of each of `texts`."""

    texts: list[str]
    takes: int

    def __call__(
        self, render: Render, options: SynthesisOptions, reference: Reference
    ) -> Iterator[Any]:
        if not recognizer().hears(options.language):
            yield from unchecked(
                render(list(range(len(self.texts))), options),
                f"The recognizer does not hear '{options.language}': set OWNVOICE_ASR_MODEL to a "
                "multilingual CTranslate2 Whisper model to verify it.",
            )
            return
        embedding = reference()
        best: dict[int, CheckedTake] = {}
        pending = list(range(len(self.texts)))
        for take in range(1, self.takes + 1):
            failed: list[int] = []
            heard = _Take(self, options, embedding, take, best, failed)
            waiting: list[TextAudio] = []
            for event in render(pending, retake_options(options, take)):
                if not isinstance(event, TextAudio):
                    yield event
                    continue
                waiting.append(event)
                if packed_seconds(waiting) >= PACK_WINDOW_SECONDS:  # a recognition window is full
                    yield from heard.settle(waiting)
                    waiting = []
            yield from heard.settle(waiting)
            pending = failed
            if not pending:
                return


@dataclass
class _Take:
    """One take of a batch: its finished texts are checked a window at a time; a text that passes
    (or is on its last take) leaves with its best take, the others are noted in `failed`."""

    best_of: BestOf
    options: SynthesisOptions
    reference: np.ndarray | None
    take: int
    best: dict[int, CheckedTake]
    failed: list[int]

    def settle(self, finished: list[TextAudio]) -> Iterator[Any]:
        if not finished:
            return
        checked = check_takes(
            [(self.best_of.texts[audio.index], audio.samples) for audio in finished],
            OUTPUT_SAMPLE_RATE,
            language=self.options.language,
            speed=self.options.speed,
            reference=self.reference,
            take=self.take,
        )
        for audio, result in zip(finished, checked, strict=True):
            if result.better_than(self.best.get(audio.index)):
                self.best[audio.index] = result
            if result.verdict.passed or self.take == self.best_of.takes:
                yield verified_audio(audio.index, self.best[audio.index], self.take)
            else:
                self.failed.append(audio.index)
        yield Heartbeat()  # a window heard: the stall clock restarts, a listener may slip in


def packed_seconds(finished: list[TextAudio]) -> float:
    """The length of a recognition window holding these texts' audio, gaps included."""
    audio = sum(len(item.samples) for item in finished) / OUTPUT_SAMPLE_RATE
    return audio + PACK_GAP_SECONDS * (len(finished) - 1)


def verified_audio(index: int, best: CheckedTake, takes: int) -> TextAudio:
    return TextAudio(index, best.samples, TakeReport.of(best, takes), best.words)


def unchecked(events: Iterator[Any], reason: str) -> Iterator[Any]:
    report = TakeReport(False, reasons=(reason,))
    for event in events:
        yield (
            dataclasses.replace(event, verification=report)
            if isinstance(event, TextAudio)
            else event
        )
