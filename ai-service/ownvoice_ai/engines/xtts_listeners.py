"""Concurrent listeners' sentences in one continuous batch of GPT rows (issue 16, item 6).

One decoding step of a batch of 8 rows costs about 1.8 times a step of one row on a 2-core CPU
(the step reads the GPT's weights once for all rows), so listeners who take turns on the device
(worker.py) hear their audio sooner, and the device makes more audio per second, when their GPT
steps run together. Each stream's sentence joins the batch as a row (`join`, which prefills it
when there is room) and reads its own latents (`latents`); a stream whose turn needs latents it
does not have yet runs one step of the whole batch, so every other live row advances too, and
their latents wait for their own turns. The vocoder stays per stream.

Concurrency contract: everything here runs on the device worker's one thread, in turns
(worker.py), never two calls at once; torch's inference mode is entered per step, never across
a `yield`. A stream yields `base.END_OF_TURN` right after it joins, so that listeners arriving
together all join (prefill) before any of them runs decoding steps: otherwise the first would
decode its whole first chunk alone while the others had not joined yet.

Each row samples with its own settings and generator, from its own KV-cache rows and position
(`xtts_continuous`), so what a listener hears does not depend on who else listens, up to the
float rounding of batched matrix products (and, with int8 weights, the activation scale that
dynamic quantisation takes over the batch): tested against single runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from ..optimize import torch_threads
from .base import GenerationStopped
from .xtts_continuous import _ContinuousBatch, _Live
from .xtts_gpt import BatchRow


class _TrackedBatch(_ContinuousBatch):
    """A continuous batch that remembers each row's state from its admission until its stream
    lets go of it (`SharedStreams.leave`)."""

    def __init__(self, gpt, width: int, device: torch.device) -> None:
        super().__init__(gpt, [], width, device)
        self.states: dict[int, _Live] = {}

    def admitted(self, state: _Live) -> None:
        self.states[state.index] = state


class SharedStreams:
    """Streams' GPT rows in one continuous batch of at most `width` rows."""

    def __init__(self, gpt, width: int, device: str | torch.device) -> None:
        if width < 2:
            raise ValueError("sharing needs a batch of at least two rows")
        self.batch = _TrackedBatch(gpt, width, torch.device(device))

    @property
    def live_rows(self) -> int:
        return len(self.batch.live)

    def join(self, row: BatchRow, threads: int | None = None) -> int:
        """Add a sentence's row; prefill it now when the batch has room (else it waits for a row
        to end), on `threads` torch threads (None: the caller's). Returns the row's index for
        `latents`."""
        index = self.batch.add(row)
        with torch_threads(threads):
            while index in self.batch.waiting and len(self.batch.live) < self.batch.width:
                self._step()
        return index

    def latents(
        self, index: int, should_stop: Callable[[], str | None] | None = None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield (audio code, latent [d]) of row `index` until it ends, like
        `xtts_gpt.generate_latents`; steps the batch when the row has nothing new. Closing the
        iterator early takes the row out of the batch."""
        consumed = 0
        try:
            while True:
                state = self.batch.states.get(index)
                if state is not None and consumed < len(state.latents):
                    yield state.tokens[consumed], state.latents[consumed]
                    consumed += 1
                    continue
                if state is not None and state.ended:
                    return
                if state is None and index not in self.batch.rows:
                    return  # taken out (leave) before it was admitted
                if should_stop is not None and (reason := should_stop()):
                    raise GenerationStopped(reason)
                self._step()
        finally:
            self.leave(index)

    def leave(self, index: int) -> None:
        """Forget row `index`; take it out of the batch if it is still running or waiting."""
        self.batch.remove(index)
        self.batch.states.pop(index, None)

    def _step(self) -> None:
        with torch.inference_mode():  # per step, never across a `yield`
            self.batch.step()


__all__ = ["SharedStreams"]
