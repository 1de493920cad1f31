"""XTTS's GPT decode step at a fixed shape, and CUDA graphs over it (GPU book rendering and streaming).

On a GPU the per-token loop in xtts_gpt.py is bound by launching kernels, not by arithmetic: 30
GPT-2 blocks of about fifteen kernels each, issued one by one from Python for every audio token.
A CUDA graph replays the whole step as one launch, but it needs every shape and address fixed:

- the keys and values live in buffers allocated once for the longest sequence the model allows
  (`capacity`), per layer [batch, heads, capacity, head_dim]; a step writes its keys and values at
  the position held in a device tensor (`index_copy_`), so the same graph serves every position;
- attention reads the whole buffer under a mask of the filled, non-padding positions (`valid`),
  instead of a view that grows by one position per step;
- rows of a batch that have ended keep stepping (their results are ignored) instead of leaving
  the batch, so the batch size, and with it the graph, stays the same.

The arithmetic is GPT-2's (Hugging Face's GPT2Block with scaled dot-product attention) on the
same modules: a row's latents equal `generate_latents`' up to float rounding (tests compare the
two on the CPU, where the same step runs eagerly, without a graph). The prefill (conditioning +
text) runs eagerly; only the decode steps are graphed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from .base import GenerationStopped
from .xtts_gpt import (
    BatchRow,
    BatchStep,
    SamplingSettings,
    _left_padded_prefixes,
    _logits_processors,
    _pick,
    _sampling_only,
    _token_limit,
    prefix_embeddings,
)


def sequence_capacity(gpt: Any) -> int:
    """The longest sequence XTTS's GPT can see: conditioning, [START] text [STOP], audio codes."""
    return 32 + gpt.max_text_tokens + 2 + gpt.max_gen_mel_tokens + 1


class StaticDecoder:
    """One fixed-shape decode step for `batch` rows over preallocated keys and values.

    `prefill(inputs, mask)` fills the buffers for the prefixes; then each `step(embeddings)`
    writes one position for every row and returns the rows' hidden states after GPT-2's final
    LayerNorm, [batch, d]. With `graph=True` (CUDA only) the step is captured once as a CUDA
    graph and replayed.
    """

    def __init__(self, gpt: Any, batch: int, capacity: int, graph: bool = False) -> None:
        transformer = gpt.gpt
        weight = next(transformer.parameters())
        self.dtype, self.device = weight.dtype, weight.device
        config = transformer.config
        self.blocks = list(transformer.h)
        self.ln_f = transformer.ln_f
        self.batch, self.capacity = batch, capacity
        self.dim, self.heads = config.n_embd, config.n_head
        self.head_dim = self.dim // self.heads
        shape = (len(self.blocks), batch, self.heads, capacity, self.head_dim)
        self.keys = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self.values = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self.valid = torch.zeros((batch, capacity), dtype=torch.bool, device=self.device)
        self.position = torch.zeros(1, dtype=torch.long, device=self.device)
        self.columns = torch.arange(capacity, device=self.device)
        self.step_input = torch.zeros((batch, 1, self.dim), dtype=self.dtype, device=self.device)
        self.step_output: torch.Tensor | None = None
        self.graph: Any = None
        if graph:
            self._capture()

    # --- the fixed-shape step ----------------------------------------------------------------

    def _attend(self, layer: int, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        block = self.blocks[layer]
        batch, length, _ = x.shape
        query, key, value = block.attn.c_attn(block.ln_1(x)).split(self.dim, dim=2)
        query, key, value = (
            t.view(batch, length, self.heads, self.head_dim).transpose(1, 2)
            for t in (query, key, value)
        )
        if length == 1:
            self.keys[layer].index_copy_(2, self.position, key)
            self.values[layer].index_copy_(2, self.position, value)
            keys, values = self.keys[layer], self.values[layer]
        else:  # prefill: positions 0..length-1
            self.keys[layer][:, :, :length] = key
            self.values[layer][:, :, :length] = value
            keys, values = key, value
        attended = F.scaled_dot_product_attention(query, keys, values, attn_mask=mask)
        return block.attn.c_proj(attended.transpose(1, 2).reshape(batch, length, self.dim))

    def _layers(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer, block in enumerate(self.blocks):
            x = x + self._attend(layer, x, mask)
            x = x + block.mlp(block.ln_2(x))
        return self.ln_f(x)

    def _step(self) -> torch.Tensor:
        self.valid.index_fill_(1, self.position, True)
        mask = (self.valid & (self.columns <= self.position)).view(self.batch, 1, 1, -1)
        out = self._layers(self.step_input, mask)
        self.position.add_(1)
        return out[:, -1]

    def _capture(self) -> None:
        if self.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        with torch.inference_mode():
            warm = torch.cuda.Stream()
            warm.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(warm):
                for _ in range(2):  # let the libraries pick their kernels before capture
                    self._step()
            torch.cuda.current_stream().wait_stream(warm)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.step_output = self._step()
        self.reset()

    # --- use -----------------------------------------------------------------------------------

    def reset(self) -> None:
        self.valid.zero_()
        self.position.zero_()

    def prefill(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the prefixes [batch, L, d] (right-aligned, `mask` [batch, L] marks real positions);
        return the hidden state of each row's last position, [batch, d]."""
        batch, length, _ = inputs.shape
        if batch != self.batch or length >= self.capacity:
            raise ValueError(
                f"prefill of {batch}x{length} on a {self.batch}x{self.capacity} decoder"
            )
        self.reset()
        real = (
            torch.ones((batch, length), dtype=torch.bool, device=self.device)
            if mask is None
            else mask.bool()
        )
        self.valid[:, :length] = real
        causal = torch.ones((length, length), dtype=torch.bool, device=self.device).tril()
        diagonal = torch.eye(length, dtype=torch.bool, device=self.device)
        # A padding position attends to itself only (its output is never read): no empty softmax.
        attend = (causal & real[:, None, :]) | diagonal
        out = self._layers(inputs.to(self.dtype), attend[:, None])
        self.position.fill_(length)
        return out[:, -1]

    def step(self, embeddings: torch.Tensor) -> torch.Tensor:
        """One position for every row: `embeddings` [batch, 1, d]; returns hidden states [batch, d]."""
        self.step_input.copy_(embeddings)
        if self.graph is not None:
            self.graph.replay()
            assert self.step_output is not None
            return self.step_output
        return self._step()


class DecoderPool:
    """StaticDecoders of one model, made (and captured) on first use: the single-row one, and one
    for the batch size in use (a different size replaces it, so the buffers stay bounded)."""

    def __init__(self, gpt: Any, graphs: bool) -> None:
        self.gpt = gpt
        self.graphs = graphs
        self.capacity = sequence_capacity(gpt)
        self._decoders: dict[int, StaticDecoder] = {}

    def get(self, batch: int) -> StaticDecoder:
        if batch not in self._decoders:
            for stale in [size for size in self._decoders if size != 1]:
                del self._decoders[stale]
            self._decoders[batch] = StaticDecoder(self.gpt, batch, self.capacity, self.graphs)
        return self._decoders[batch]


def _embed_codes(gpt: Any, codes: list[int], step: int, device: torch.device) -> torch.Tensor:
    ids = torch.tensor(codes, device=device).unsqueeze(1)
    return gpt.mel_embedding(ids) + gpt.mel_pos_embedding.get_fixed_embedding(step + 1, device)


def generate_latents_static(
    gpt: Any,
    pool: DecoderPool,
    cond_latent: torch.Tensor,
    text_tokens: torch.Tensor,
    settings: SamplingSettings,
    generator: torch.Generator | None = None,
    should_stop: Callable[[], str | None] | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """`xtts_gpt.generate_latents` on a StaticDecoder: the same pairs, the same sampling."""
    processors = _logits_processors(settings)
    limit = _token_limit(gpt, settings)
    device = text_tokens.device
    history = torch.tensor([[gpt.start_audio_token]], device=device)
    decoder = pool.get(1)
    with torch.inference_mode():
        hidden = decoder.prefill(prefix_embeddings(gpt, cond_latent, text_tokens))
        for step in range(limit):
            if should_stop is not None and (reason := should_stop()):
                raise GenerationStopped(reason)
            latent = gpt.final_norm(hidden)
            logits = gpt.mel_head(latent).float()
            if settings.fixed_tokens is not None:
                logits[:, gpt.stop_audio_token] = -float("inf")
            token = _pick(processors(history, logits), settings.do_sample, generator)  # type: ignore[arg-type]
            if token == gpt.stop_audio_token:
                return
            yield token, latent[0].clone()
            history = torch.cat([history, torch.tensor([[token]], device=device)], dim=1)
            hidden = decoder.step(_embed_codes(gpt, [token], step, device))


def generate_latents_batch_static(
    gpt: Any,
    pool: DecoderPool,
    rows: list[BatchRow],
    should_stop: Callable[[], str | None] | None = None,
) -> Iterator[BatchStep]:
    """`xtts_gpt.generate_latents_batch` on a StaticDecoder: ended rows keep stepping on the stop
    token, their results ignored, so the batch (and its graph) keeps its shape."""
    if not rows:
        return
    if len({_sampling_only(row.settings) for row in rows}) > 1:
        raise ValueError(
            "every row of a batch must use the same sampling settings (limits may differ)"
        )
    processors = _logits_processors(rows[0].settings)
    device = rows[0].text_tokens.device
    limits = [_token_limit(gpt, row.settings) for row in rows]
    histories = [torch.tensor([[gpt.start_audio_token]], device=device) for _ in rows]
    latents: list[list[torch.Tensor]] = [[] for _ in rows]
    alive = set(range(len(rows)))
    decoder = pool.get(len(rows))
    with torch.inference_mode():
        inputs, mask = _left_padded_prefixes(gpt, rows)
        hidden = decoder.prefill(inputs, mask)
        for step in range(max(limits)):
            if should_stop is not None and (reason := should_stop()):
                raise GenerationStopped(reason)
            normed = gpt.final_norm(hidden)
            logits = gpt.mel_head(normed).float()
            codes, ended = [gpt.stop_audio_token] * len(rows), []
            for index in sorted(alive):
                row = rows[index]
                row_logits = logits[index : index + 1]
                if row.settings.fixed_tokens is not None:
                    row_logits[:, gpt.stop_audio_token] = -float("inf")
                scores = processors(histories[index], row_logits)  # type: ignore[arg-type]
                token = _pick(scores, row.settings.do_sample, row.generator)
                if token != gpt.stop_audio_token:
                    latents[index].append(normed[index].clone())
                if token == gpt.stop_audio_token or len(latents[index]) >= limits[index]:
                    ended.append(index)
                    continue
                codes[index] = token
                histories[index] = torch.cat(
                    [histories[index], torch.tensor([[token]], device=device)], dim=1
                )
            finished = [(i, _stack(latents[i], normed)) for i in ended]
            alive.difference_update(ended)
            yield BatchStep(len(alive) + len(ended), finished)
            if not alive:
                return
            hidden = decoder.step(_embed_codes(gpt, codes, step, device))


def _stack(latents: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.stack(latents) if latents else like.new_zeros((0, like.shape[-1]))
