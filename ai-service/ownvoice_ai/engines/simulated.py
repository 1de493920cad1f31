"""A simulated XTTS for scaling runs (`OWNVOICE_SIMULATE_TOKEN_S`, make bench-scale).

It loads and conditions like XttsEngine (the tiny demo model is enough), but generating costs a
fixed time per audio token spent asleep, not on the CPU, and the audio is silence of the length
the tokens stand for. A batch costs one token time per step for all its rows together, as the
GPT's batched decode does on a GPU. So replicas on a small machine scale as GPUs would: what is
measured is the scheduling (router, worker, the app server's batches in flight), not the cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..conditioning import Conditioning
from .base import AudioChunk, BatchProgress, GenerationStopped, RenderedChunk, SynthesisOptions
from .xtts import SAMPLE_RATE, TokenizedChunk, XttsEngine, _ProgressClock, _text_of

SAMPLES_PER_TOKEN = 1024  # XTTS's HiFi-GAN turns one audio token into 1024 samples at 24 kHz


class SimulatedXttsEngine(XttsEngine):
    def __init__(
        self, *args, token_s: float, sleep: Callable[[float], None] = time.sleep, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.token_s = token_s
        self._sleep = sleep

    def load(self):
        status = super().load()
        status.extra["simulated_token_s"] = self.token_s
        return status

    def _tokens(self, chunk: str | TokenizedChunk) -> int:
        fixed, budget = self.tuning.token_limits(_text_of(chunk))
        return fixed or budget

    def _step(self, options: SynthesisOptions) -> None:
        if options.stop is not None and (reason := options.stop.reason()) is not None:
            raise GenerationStopped(reason)
        self._sleep(self.token_s)

    def stream(
        self, text: str | TokenizedChunk, voice: Conditioning, options: SynthesisOptions
    ) -> Iterator[AudioChunk]:
        self._require_model()
        total = self._tokens(text)
        threshold, pending = self.tuning.first_chunk_tokens, 0
        for _ in range(total):
            self._step(options)
            pending += 1
            if pending >= threshold:
                yield AudioChunk(_silence(pending), SAMPLE_RATE)
                pending, threshold = 0, self.tuning.chunk_tokens
        yield AudioChunk(_silence(pending), SAMPLE_RATE, is_last=True)

    def render_batch(
        self, chunks: Sequence[str | TokenizedChunk], voice: Conditioning, options: SynthesisOptions
    ) -> Iterator[RenderedChunk | BatchProgress]:
        self._require_model()
        lengths = [self._tokens(chunk) for chunk in chunks]
        by_length = sorted(range(len(chunks)), key=lambda index: lengths[index])
        progress = _ProgressClock()
        for start in range(0, len(by_length), self.batch_size):
            rows = by_length[start : start + self.batch_size]
            for step in range(1, max(lengths[row] for row in rows) + 1):
                self._step(options)
                for row in rows:
                    if lengths[row] == step:
                        yield RenderedChunk(row, _silence(step), SAMPLE_RATE)
                if progress.tick(sum(1 for row in rows if lengths[row] >= step)):
                    yield BatchProgress(progress.tokens)


def _silence(tokens: int) -> np.ndarray:
    return np.zeros(tokens * SAMPLES_PER_TOKEN, dtype=np.float32)
