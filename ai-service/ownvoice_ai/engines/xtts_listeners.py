"""Concurrent listeners' sentences in one continuous batch of GPT rows (issue 16, item 6).

One decoding step of a batch of 8 rows costs about 1.8 times a step of one row on a 2-core CPU
(the step reads the GPT's weights once for all rows), so listeners who take turns on the device
(worker.py) hear their audio sooner, and the device makes more audio per second, when their GPT
steps run together. Each stream's sentence joins the batch as a row (`join`; the next step that
finds room prefills every waiting row in one pass) and reads its own latents (`latents`); a
stream whose turn needs latents it does not have yet runs one step of the whole batch, so every
other live row advances too, and their latents wait for their own turns. The vocoder stays per
stream: a stream that decodes on a vocoder thread of its own (the fast path) has each step's
latents pushed to it as the step makes them (`join(..., feed=)`, `advance`), so every
listener's vocoder starts as soon as its row has its first chunk's latents, not at its next
turn: without that, eight listeners' first chunks were vocoded one per turn, a batch step apart.
A stream of several sentences also reads ahead (`XttsEngine.stream_chunks`): its next sentences
join as rows of their own (`join(..., ahead=True)`) while there is room (`room_ahead`: they never
take more than half the batch, so listeners who arrive find room), and are decoded beside the one
being heard.

Concurrency contract: everything here runs on the device worker's one thread, in turns
(worker.py), never two calls at once; torch's inference mode is entered per step, never across
a `yield`. A stream yields `base.END_OF_TURN` right after it joins, so that listeners arriving
together all join before any of them steps the batch: the first step then prefills them all in
one pass, and the next ones decode them all (otherwise the first would decode its whole first
chunk alone while the others had not joined yet).

Each row samples with its own settings and generator, from its own KV-cache rows and position
(`xtts_continuous`), so what a listener hears does not depend on who else listens, up to the
float rounding of batched matrix products (and, with int8 weights, the activation scale that
dynamic quantisation takes over the batch): tested against single runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from ..optimize import torch_threads
from .base import GenerationStopped
from .xtts_continuous import _ContinuousBatch, _Live
from .xtts_gpt import BatchRow, ConditioningPrefix


class _TrackedBatch(_ContinuousBatch):
    """A continuous batch that remembers each row's state from its admission until its stream
    lets go of it (`SharedStreams.leave`)."""

    def __init__(
        self, gpt, width: int, device: torch.device, prefixes: ConditioningPrefix | None
    ) -> None:
        super().__init__(gpt, [], width, device, prefixes)
        self.states: dict[int, _Live] = {}

    def admitted(self, state: _Live) -> None:
        self.states[state.index] = state


@dataclass
class _Feed:
    """Where a row's latents go as steps make them, and how many went there."""

    push: Callable[[torch.Tensor], None]
    sent: int = 0


class SharedStreams:
    """Streams' GPT rows in one continuous batch of at most `width` rows."""

    def __init__(
        self,
        gpt,
        width: int,
        device: str | torch.device,
        prefixes: ConditioningPrefix | None = None,
    ) -> None:
        """`prefixes`: the voices' conditioning positions, prefilled once (xtts_gpt)."""
        if width < 2:
            raise ValueError("sharing needs a batch of at least two rows")
        self.batch = _TrackedBatch(gpt, width, torch.device(device), prefixes)
        self.feeds: dict[int, _Feed] = {}
        self.prefill_threads: int | None = None
        # rows for chunks of a text that nobody hears yet (read-ahead: XttsEngine.stream_chunks)
        self.ahead: set[int] = set()
        # rows read ahead that were taken out to make room for a row someone waits to hear
        self.given_back: set[int] = set()

    @property
    def live_rows(self) -> int:
        return len(self.batch.live)

    @property
    def busy(self) -> bool:
        """Whether a step would do anything: rows are decoding or waiting to be admitted."""
        return bool(self.batch.live or self.batch.waiting)

    def join(
        self,
        row: BatchRow,
        threads: int | None = None,
        feed: Callable[[torch.Tensor], None] | None = None,
        ahead: bool = False,
    ) -> int:
        """Add a sentence's row. It is prefilled at the next step that finds room in the batch,
        together with every other row waiting then, on `threads` torch threads (None: the
        stepping thread's; the prefill is compute-bound, the decoding steps are not). Returns
        the row's index: for `latents`, or, with `feed`, for `advance` and `ended` (each latent
        of the row is passed to `feed` after the step that made it, in order, on the stepping
        thread). `ahead`: a row read ahead, counted against `room_ahead` until `heard`."""
        index = self.batch.add(row)
        self.prefill_threads = threads
        if feed is not None:
            self.feeds[index] = _Feed(feed)
        if ahead:
            self.ahead.add(index)
        return index

    def room_ahead(self) -> bool:
        """Whether a stream may add a row for a later chunk of its text: the batch has room for
        it now, and rows read ahead still decoding hold less than half the batch."""
        batch = self.batch
        decoding_ahead = sum(index in batch.rows for index in self.ahead)
        return (
            len(batch.live) + len(batch.waiting) < batch.width and decoding_ahead < batch.width // 2
        )

    def heard(self, index: int) -> None:
        """Row `index` is now the one its stream plays: no longer a row read ahead (and, if it
        waits for room, admitted before any row read ahead)."""
        self.ahead.discard(index)

    def given_up(self, index: int) -> bool:
        """Whether row `index`, read ahead, was taken out of the batch to make room for a row
        that someone waits to hear (`_make_room`): its stream must join it again."""
        return index in self.given_back

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

    def advance(self, should_stop: Callable[[], str | None] | None = None) -> None:
        """One step of the batch (for a fed row that wants more latents), after a stop check."""
        if should_stop is not None and (reason := should_stop()):
            raise GenerationStopped(reason)
        self._step()

    def ended(self, index: int) -> bool:
        """Whether fed row `index` has had its last latent (or left before it entered)."""
        state = self.batch.states.get(index)
        if state is None:
            return index not in self.batch.rows
        feed = self.feeds.get(index)
        return state.ended and (feed is None or feed.sent == len(state.latents))

    def leave(self, index: int) -> None:
        """Forget row `index`; take it out of the batch if it is still running or waiting."""
        self.batch.remove(index)
        self.batch.states.pop(index, None)
        self.feeds.pop(index, None)
        self.ahead.discard(index)
        self.given_back.discard(index)

    def _step(self) -> None:
        """Admit the waiting rows there is room for, else one decoding step of the batch."""
        batch = self.batch
        if batch.waiting:
            self._make_room()
        with torch.inference_mode():  # per step, never across a `yield`
            if batch.waiting and len(batch.live) < batch.width:
                with torch_threads(self.prefill_threads):
                    batch.admit_waiting()
            else:
                batch.step()
        for index, feed in self.feeds.items():
            state = self.batch.states.get(index)
            if state is not None:
                for latent in state.latents[feed.sent :]:
                    feed.push(latent)
                feed.sent = len(state.latents)

    def _make_room(self) -> None:
        """Rows someone waits to hear are admitted before rows read ahead; when the batch has
        no room for them, rows read ahead leave it (the least decoded first) and are joined
        again when heard. So reading ahead never keeps a listener who arrives from the batch."""
        batch = self.batch
        batch.waiting = deque(sorted(batch.waiting, key=lambda index: index in self.ahead))
        heard_waiting = sum(index not in self.ahead for index in batch.waiting)
        short = heard_waiting - (batch.width - len(batch.live))
        if short <= 0:
            return
        ahead = sorted(
            (state for state in batch.live if state.index in self.ahead),
            key=lambda state: len(state.latents),
        )
        for state in ahead[:short]:
            self.leave(state.index)
            self.given_back.add(state.index)


__all__ = ["SharedStreams"]
