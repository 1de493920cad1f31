"""Best of N takes for a batch: every text's audio heard, failing texts rendered again.

A batch job renders its texts (`Render`: the engine's job for some of the texts, with options);
with verification on, each finished text is checked (verify.check_take) on the worker thread,
between two renders, never beside one. A text that passes leaves at once; the texts that fail
are rendered again together with the next take's options (a new seed, a little cooler), up to
`takes` takes. A text that fails every take leaves with its best take, marked as failed.

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
from ..verify import CheckedTake, check_take, retake_options
from ..verify.asr import recognizer
from ..verify.takes import TakeReport
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
            failed = []
            for event in render(pending, retake_options(options, take)):
                if not isinstance(event, TextAudio):
                    yield event
                    continue
                checked = self._check(event, options, embedding, take)
                if checked.better_than(best.get(event.index)):
                    best[event.index] = checked
                if checked.verdict.passed or take == self.takes:
                    yield verified_audio(event.index, best[event.index], take)
                else:
                    failed.append(event.index)
                    yield Heartbeat()
            pending = failed
            if not pending:
                return

    def _check(
        self, audio: TextAudio, options: SynthesisOptions, reference: np.ndarray | None, take: int
    ) -> CheckedTake:
        return check_take(
            self.texts[audio.index],
            audio.samples,
            OUTPUT_SAMPLE_RATE,
            language=options.language,
            speed=options.speed,
            reference=reference,
            take=take,
        )


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
