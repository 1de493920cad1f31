"""Continuous batching for book rendering: a row that ends is replaced by the next sentence.

`xtts_gpt.generate_latents_batch` runs a fixed set of rows until the last one ends, so a batch
of sentences of different lengths runs ever emptier (one long sentence keeps a batch of 8 going
at batch 1). Here the batch is refilled at every step from a queue of rows, so it stays full
until the book runs out.

Each row keeps its own state: its audio position (XTTS adds a learned position embedding to each
input; the GPT itself has none), its sampling history and generator, its latents, and its rows of
the KV cache (`RowCache`). A new row is prefilled alone, which also samples its first token, and
its keys and values are written right-aligned into the shared cache, the columns before its
prefix masked off; so a row's result equals a single run (`generate_latents`) up to the float
rounding of batched matrix products, whatever ran beside it. Columns that no live row attends to
any more are dropped from the left of the cache, so its length follows the live rows, not the
book.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .base import GenerationStopped
from .kv_cache import PreallocatedCache, RowCache
from .xtts_gpt import (
    BatchRow,
    BatchStep,
    ConditioningPrefix,
    _left_padded_prefixes,
    _logits_processors,
    _next_token,
    _right_aligned,
    _sampling_only,
    _stacked,
    _token_limit,
    prefix_embeddings,
    text_embeddings,
)


@dataclass
class _Live:
    """A row in the batch: its index among the rows, the next audio position, what it sampled
    (`tokens[i]` is the code `latents[i]` predicted), and whether it has ended."""

    index: int
    limit: int
    history: torch.Tensor
    processors: Any
    latents: list[torch.Tensor] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    ended: bool = False

    @property
    def position(self) -> int:
        return len(self.latents)


def generate_latents_continuous(
    gpt,
    rows: Sequence[BatchRow],
    width: int,
    should_stop: Callable[[], str | None] | None = None,
    prefixes: ConditioningPrefix | None = None,
) -> Iterator[BatchStep]:
    """Generate every row, at most `width` at a time, refilling the batch as rows end.

    Rows enter in the order given. Yields a BatchStep per step (tokens sampled in it, and the
    rows that ended, as (index into `rows`, latents [T, d])), like `generate_latents_batch`.
    """
    if not rows:
        return
    if width < 1:
        raise ValueError("a batch needs at least one row")
    if len({_sampling_only(row.settings) for row in rows}) > 1:
        raise ValueError(
            "every row of a batch must use the same sampling settings (limits may differ)"
        )
    batch = _ContinuousBatch(gpt, rows, width, prefixes=prefixes)
    while not batch.finished:
        if should_stop is not None and (reason := should_stop()):
            raise GenerationStopped(reason)
        with torch.inference_mode():  # per step, never across a `yield` (see generate_latents)
            step = batch.step()
        yield step


class _ContinuousBatch:
    """The batch: rows given up front, or added while it runs (`add`: xtts_listeners.SharedStreams),
    each sampled with its own settings. A row is forgotten once it ends or is removed."""

    def __init__(
        self,
        gpt,
        rows: Sequence[BatchRow],
        width: int,
        device: torch.device | None = None,
        prefixes: ConditioningPrefix | None = None,
    ) -> None:
        self.gpt = gpt
        self.prefixes = prefixes  # the voices' conditioning positions, prefilled once
        self.rows: dict[int, BatchRow] = dict(enumerate(rows))
        self.added = len(self.rows)
        self.width = width
        self.device = device if device is not None else rows[0].text_tokens.device
        self.waiting = deque(range(len(rows)))
        self.live: list[_Live] = []
        self.cache = RowCache(len(gpt.gpt.h), capacity_rows=width)
        # [live rows, cache columns]: 1 where a row attends to a column
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=self.device)

    @property
    def finished(self) -> bool:
        return not self.waiting and not self.live

    def add(self, row: BatchRow) -> int:
        """Queue one more row (it enters at a step when there is room); returns its index."""
        index = self.added
        self.added += 1
        self.rows[index] = row
        self.waiting.append(index)
        return index

    def remove(self, index: int) -> None:
        """Take a row out, waiting or live (its listener went away); a no-op once it ended."""
        if index in self.waiting:
            self.waiting.remove(index)
        position = next((p for p, state in enumerate(self.live) if state.index == index), None)
        if position is not None:
            self.live[position].ended = True
            with torch.inference_mode():  # the cache's tensors are inference tensors
                self._keep([p for p in range(len(self.live)) if p != position])
        self.rows.pop(index, None)

    def step(self) -> BatchStep:
        """Admit one waiting row if there is room (its prefill is a step of its own, so a stop
        signal and the progress clock are never kept waiting by a batch's worth of prefills);
        otherwise one decoding step of every live row."""
        if self.waiting and len(self.live) < self.width:
            return BatchStep(*self._admit(self.waiting.popleft()))
        return BatchStep(*self._decode())

    def admit_waiting(self) -> BatchStep:
        """Admit every waiting row there is room for, prefilled together in one forward pass
        (right-aligned, the padding masked, as `generate_latents_batch` prefills): listeners who
        arrive together (xtts_listeners.SharedStreams). One pass over several rows reads the
        weights once and pays the threads' wake-ups once."""
        room = self.width - len(self.live)
        indices = list(itertools.islice(self.waiting, room))
        if len(indices) == 1:
            return self.step()
        rows = [self.rows[i] for i in indices]
        if self.prefixes is None:
            inputs, mask = _left_padded_prefixes(self.gpt, rows)
            prefilled, known = PreallocatedCache(inputs.shape[1]), 0
        else:  # the voices' positions first, then each row's text right-aligned after a gap
            inputs, mask = _right_aligned([text_embeddings(self.gpt, r.text_tokens) for r in rows])
            prefilled = PreallocatedCache(rows[0].cond_latent.shape[1] + inputs.shape[1])
            known = self.prefixes.fill(prefilled, [row.cond_latent for row in rows])
            mask = torch.cat([mask.new_ones((len(rows), known)), mask], dim=1)
        out = self.gpt.gpt(
            inputs_embeds=inputs, attention_mask=mask, past_key_values=prefilled, use_cache=True
        )
        latents = self.gpt.final_norm(out.last_hidden_state[:, -1])
        logits = self.gpt.mel_head(latents).float()
        for _ in indices:  # they leave the queue only once the pass went through
            self.waiting.popleft()
        self.cache.reserve(len(self.live) + len(indices))  # one growth for all of them
        ended: list[tuple[int, torch.Tensor]] = []
        for row, index in enumerate(indices):
            columns = mask[row].nonzero().flatten()  # its voice's, then its text's
            ended += self._enter(
                index, latents[row], logits[row : row + 1], prefilled, row, columns
            )
        return BatchStep(len(indices), ended)

    def _admit(self, index: int) -> tuple[int, list[tuple[int, torch.Tensor]]]:
        """Prefill one row alone (sampling its first token) and put it in the batch."""
        row = self.rows[index]
        prefix = prefix_embeddings(self.gpt, row.cond_latent, row.text_tokens)
        single = PreallocatedCache(prefix.shape[1])
        if self.prefixes is not None:
            prefix = prefix[:, self.prefixes.fill(single, [row.cond_latent]) :]
        out = self.gpt.gpt(inputs_embeds=prefix, past_key_values=single, use_cache=True)
        latent = self.gpt.final_norm(out.last_hidden_state[:, -1])
        logits = self.gpt.mel_head(latent).float()
        return 1, self._enter(index, latent[0], logits, single, 0, None)

    def _enter(
        self,
        index: int,
        latent: torch.Tensor,
        logits: torch.Tensor,
        prefilled: PreallocatedCache,
        row: int,
        columns: torch.Tensor | None,
    ) -> list[tuple[int, torch.Tensor]]:
        """Sample a prefilled row's first token from `logits` and put its keys and values (row
        `row` of `prefilled`, the given columns, None: all) in the batch; [(index, latents)] if
        that first token ended it."""
        start = torch.tensor([[self.gpt.start_audio_token]], device=self.device)
        settings = self.rows[index].settings
        state = _Live(index, _token_limit(self.gpt, settings), start, _logits_processors(settings))
        self.admitted(state)
        if self._sample(state, latent, logits):
            return [(index, _stacked(state.latents, latent[None]))]
        shift = self.cache.insert(prefilled, row, columns)
        length = prefilled.get_seq_length() if columns is None else len(columns)
        row_mask = self.mask.new_zeros((1, self.cache.length))
        row_mask[0, self.cache.length - length :] = 1
        self.mask = torch.cat([torch.nn.functional.pad(self.mask, (shift, 0)), row_mask])
        self.live.append(state)
        return []

    def _decode(self) -> tuple[int, list[tuple[int, torch.Tensor]]]:
        """One GPT pass for every live row, each at its own audio position."""
        last = torch.tensor(
            [[int(state.history[0, -1])] for state in self.live], device=self.device
        )
        positions = torch.tensor([state.position for state in self.live], device=self.device)
        inputs = self.gpt.mel_embedding(last) + self.gpt.mel_pos_embedding.emb(positions).unsqueeze(
            1
        )
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self.live), 1))], dim=1)
        out = self.gpt.gpt(
            inputs_embeds=inputs,
            attention_mask=self.mask,
            past_key_values=self.cache,
            use_cache=True,
            return_dict=True,
        )
        latents = self.gpt.final_norm(out.last_hidden_state[:, -1])
        logits = self.gpt.mel_head(latents).float()
        kept, ended = [], []
        for position, state in enumerate(self.live):
            if self._sample(state, latents[position], logits[position : position + 1]):
                ended.append((state.index, _stacked(state.latents, latents)))
            else:
                kept.append(position)
        sampled = len(self.live)
        if len(kept) < len(self.live):
            self._keep(kept)
        return sampled, ended

    def admitted(self, state: _Live) -> None:
        """Called with each row's state as it enters (xtts_listeners.SharedStreams follows its rows)."""

    def _sample(self, state: _Live, latent: torch.Tensor, logits: torch.Tensor) -> bool:
        """Sample the row's next token from `logits` (the latent predicted it); True if it ended
        (then the row is forgotten: its state keeps what it sampled)."""
        token = _next_token(
            self.gpt, self.rows[state.index], state.history, state.processors, logits
        )
        if token != self.gpt.stop_audio_token:
            state.latents.append(latent)
            state.tokens.append(token)
        if token == self.gpt.stop_audio_token or len(state.latents) >= state.limit:
            state.ended = True
            del self.rows[state.index]
            return True
        state.history = torch.cat(
            [state.history, torch.tensor([[token]], device=self.device)], dim=1
        )
        return False

    def _keep(self, kept: list[int]) -> None:
        """Drop the ended rows from the batch, then the columns no live row attends to."""
        self.live = [self.live[position] for position in kept]
        if not kept:
            self.cache.clear()
            self.mask = self.mask.new_zeros((0, 0))
            return
        keep = torch.tensor(kept, device=self.device)
        self.cache.select_rows(keep)
        self.mask = self.mask[keep]
        unused = int(self.mask.any(dim=0).long().argmax())  # first column some row attends to
        if unused:
            self.cache.drop_columns(unused)
            self.mask = self.mask[:, unused:]
