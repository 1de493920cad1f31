"""XTTS's GPT token loop, written out so that it can stream, stop early and be timed on its own.

coqui-tts generates audio codes with Hugging Face `generate`, then (in `Xtts.inference`) runs the
GPT a second time over the finished codes to get the latents the vocoder needs. This loop keeps
the latent of every step as it goes, so there is no second pass, and it checks a stop signal
between tokens so a cancelled or timed-out request stops within one decoding step.

Latent i is the final-norm hidden state that predicted code i: the same pairing as the
teacher-forced pass in `GPT.forward(..., return_latent=True)` (tests compare the two).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
from transformers.cache_utils import Cache
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from .base import GenerationStopped, SynthesisOptions
from .kv_cache import PreallocatedCache


@dataclass(frozen=True)
class SamplingSettings:
    # the defaults are the synthesis defaults (engines/base.SynthesisOptions)
    temperature: float = SynthesisOptions.temperature
    top_p: float = SynthesisOptions.top_p
    top_k: int = SynthesisOptions.top_k
    repetition_penalty: float = SynthesisOptions.repetition_penalty
    do_sample: bool = True
    # Benchmarks and tests force an exact number of audio tokens: the stop token is suppressed
    # until then, and generation ends right there (random weights rarely sample [STOP] anyway).
    fixed_tokens: int | None = None
    max_tokens: int | None = None


def _logits_processors(settings: SamplingSettings) -> LogitsProcessorList:
    processors = LogitsProcessorList()
    if settings.repetition_penalty and settings.repetition_penalty != 1.0:
        processors.append(
            RepetitionPenaltyLogitsProcessor(penalty=float(settings.repetition_penalty))
        )
    if settings.do_sample:
        if settings.temperature and settings.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(float(settings.temperature)))
        if settings.top_k and settings.top_k > 0:
            processors.append(TopKLogitsWarper(top_k=int(settings.top_k)))
        if settings.top_p is not None and settings.top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p=float(settings.top_p)))
    return processors


def prefix_embeddings(gpt, cond_latent: torch.Tensor, text_tokens: torch.Tensor) -> torch.Tensor:
    """Speaker latents + [START] text [STOP] + the start-audio token, as one embedding sequence."""
    text_emb = text_embeddings(gpt, text_tokens)
    return torch.cat([cond_latent.to(text_emb.dtype), text_emb], dim=1)


def text_embeddings(gpt, text_tokens: torch.Tensor) -> torch.Tensor:
    """The prefix after the speaker latents: [START] text [STOP] + the start-audio token."""
    text = torch.nn.functional.pad(text_tokens, (0, 1), value=gpt.stop_text_token)
    text = torch.nn.functional.pad(text, (1, 0), value=gpt.start_text_token)
    text_emb = gpt.text_embedding(text) + gpt.text_pos_embedding(text)
    start = torch.tensor([[gpt.start_audio_token]], device=text_tokens.device)
    start_emb = gpt.mel_embedding(start) + gpt.mel_pos_embedding.get_fixed_embedding(
        0, text_tokens.device
    )
    return torch.cat([text_emb, start_emb], dim=1)


class ConditioningPrefix:
    """The GPT's keys and values over a voice's conditioning latents, computed once per voice.

    Every prefix starts with the speaker's 32 conditioning latents, and XTTS's GPT has no
    positional embedding of its own (the text and audio embeddings carry theirs), so under causal
    attention the keys and values of those positions depend on the voice alone. A sentence's
    prefill then runs over its text and the start-audio token only, about a third less work
    (measured: 168 against 115 ms for a 66-position prefix, int8, one thread). In fp32 the result
    is the full prefill's up to float rounding (tested); with int8 weights, dynamic quantisation
    takes the text positions' activation scale over the text alone.

    The last `voices` voices are kept (about 8 MB each for the full-size model, fp32 keys and
    values of 30 layers). Safe to share between threads. Keyed by the latents' content and by the
    GPT's modules (`_weights_key`): use one per GPT.
    """

    def __init__(self, gpt, voices: int = 4) -> None:
        self.gpt = gpt
        self.voices = voices
        self._kept: OrderedDict[tuple, list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self._lock = threading.Lock()

    def layers(self, cond_latent: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(keys, values) per layer, each [1, heads, positions, head dim], for this voice."""
        key = (_tensor_key(cond_latent), _weights_key(self.gpt))
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        with torch.inference_mode():
            cache = PreallocatedCache(cond_latent.shape[1])
            inputs = cond_latent.to(self.gpt.text_embedding.weight.dtype)  # as prefix_embeddings
            self.gpt.gpt(inputs_embeds=inputs, past_key_values=cache, use_cache=True)
            kept = []
            for layer in cache.layers:
                assert layer.keys is not None and layer.values is not None  # prefilled
                kept.append((layer.keys, layer.values))
        with self._lock:
            self._kept[key] = kept
            while len(self._kept) > self.voices:
                self._kept.popitem(last=False)
        return kept

    def fill(self, cache: Cache, cond_latents: list[torch.Tensor]) -> int:
        """Write the conditioning positions of each row's voice into an empty `cache` (one row per
        latent); returns how many positions that is."""
        per_row = [self.layers(latent) for latent in cond_latents]
        for index in range(len(per_row[0])):
            keys = torch.cat([row[index][0] for row in per_row])
            values = torch.cat([row[index][1] for row in per_row])
            cache.update(keys, values, index)
        return int(cond_latents[0].shape[1])


def _weights_key(gpt) -> tuple:
    """Changes when the GPT's weights are converted after loading (int8 quantisation replaces its
    linear modules; half precision changes their dtype), so no voice's keys outlive them."""
    blocks = gpt.gpt.h
    return id(blocks[0].attn.c_attn), id(blocks[-1].mlp.c_proj), str(gpt.gpt.ln_f.weight.dtype)


def _tensor_key(tensor: torch.Tensor) -> tuple:
    data = tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return digest, tuple(tensor.shape), str(tensor.dtype), str(tensor.device)


def generate_latents(
    gpt,
    cond_latent: torch.Tensor,
    text_tokens: torch.Tensor,
    settings: SamplingSettings,
    generator: torch.Generator | None = None,
    should_stop: Callable[[], str | None] | None = None,
    prefixes: ConditioningPrefix | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (audio code, latent [d_model]) per step until [STOP], the token limit, or a stop signal.

    `gpt` is coqui's `TTS.tts.layers.xtts.gpt.GPT`; `cond_latent` is [1, 32, d]; `text_tokens` [1, n].
    With `prefixes`, the voice's conditioning positions come from there, not from a prefill.
    """
    processors = _logits_processors(settings)
    limit = _token_limit(gpt, settings)
    history = torch.tensor([[gpt.start_audio_token]], device=text_tokens.device)
    with torch.inference_mode():
        inputs = prefix_embeddings(gpt, cond_latent, text_tokens)
        cache = PreallocatedCache(inputs.shape[1] + limit)
        if prefixes is not None:
            inputs = inputs[:, prefixes.fill(cache, [cond_latent]) :]
    # Inference mode is entered per step, never held across a `yield`: the device worker
    # interleaves several of these generators on one thread (worker.py), and a mode held open by
    # one would be switched off under another when the first one ends.
    for step in range(limit):
        if should_stop is not None and (reason := should_stop()):
            raise GenerationStopped(reason)
        with torch.inference_mode():
            out = gpt.gpt(
                inputs_embeds=inputs, past_key_values=cache, use_cache=True, return_dict=True
            )
            cache = out.past_key_values
            latent = gpt.final_norm(out.last_hidden_state[:, -1])
            logits = gpt.mel_head(latent).float()
            if settings.fixed_tokens is not None:
                logits[:, gpt.stop_audio_token] = -float("inf")
            # transformers annotates input_ids as the legacy LongTensor class; history is int64.
            token = _pick(processors(history, logits), settings.do_sample, generator)  # type: ignore[arg-type]
        if token == gpt.stop_audio_token:
            return
        yield token, latent[0]
        with torch.inference_mode():
            next_id = torch.tensor([[token]], device=text_tokens.device)
            history = torch.cat([history, next_id], dim=1)
            inputs = gpt.mel_embedding(next_id) + gpt.mel_pos_embedding.get_fixed_embedding(
                step + 1, text_tokens.device
            )


def _token_limit(gpt, settings: SamplingSettings) -> int:
    if settings.fixed_tokens is not None:
        return min(gpt.max_gen_mel_tokens, settings.fixed_tokens)
    if settings.max_tokens is not None:
        return min(gpt.max_gen_mel_tokens, settings.max_tokens)
    return gpt.max_gen_mel_tokens


@dataclass
class BatchRow:
    """One sequence of a batch: the same inputs `generate_latents` takes for a single one."""

    cond_latent: torch.Tensor  # [1, 32, d]
    text_tokens: torch.Tensor  # [1, n]
    settings: SamplingSettings
    generator: torch.Generator | None = None


@dataclass
class BatchStep:
    """One decoding step of a batch: tokens generated, and the rows that ended with their latents."""

    tokens: int
    ended: list[tuple[int, torch.Tensor]]


@dataclass
class _RowState:
    limit: int
    history: torch.Tensor
    latents: list[torch.Tensor]


def _left_padded_prefixes(gpt, rows: list[BatchRow]) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows' prefix embeddings right-aligned in one [B, L, d] tensor, and the [B, L] mask.

    Right-aligned so that every row's audio tokens sit at the same step: XTTS's GPT has no
    positional embedding of its own (its text and audio position embeddings are added to the
    inputs), so left padding that the attention mask hides changes nothing for a row.
    """
    return _right_aligned(
        [prefix_embeddings(gpt, row.cond_latent, row.text_tokens) for row in rows]
    )


def _right_aligned(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """[1, L_i, d] embedding sequences right-aligned in one [B, L, d] tensor, and the [B, L]
    mask of what is real."""
    length = max(sequence.shape[1] for sequence in sequences)
    first = sequences[0]
    inputs = first.new_zeros((len(sequences), length, first.shape[-1]))
    mask = torch.zeros((len(sequences), length), dtype=torch.long, device=first.device)
    for index, sequence in enumerate(sequences):
        inputs[index, length - sequence.shape[1] :] = sequence[0]
        mask[index, length - sequence.shape[1] :] = 1
    return inputs, mask


def generate_latents_batch(
    gpt,
    rows: list[BatchRow],
    should_stop: Callable[[], str | None] | None = None,
) -> Iterator[BatchStep]:
    """Generate several sequences in one batch: one GPT pass per step serves every row.

    Yields a BatchStep per step, with (row index, latents [T, d]) of each row that ended ([STOP],
    or its token limit); an ended row leaves the batch (and the KV cache), so the rest runs on a
    smaller batch. Per row, the sampling is the same as `generate_latents` (its own logits processors, history and
    generator), so a row's result equals a single run up to the float rounding of batched
    matrix products.
    """
    if not rows:
        return
    if len({_sampling_only(row.settings) for row in rows}) > 1:
        raise ValueError(
            "every row of a batch must use the same sampling settings (limits may differ)"
        )
    processors = _logits_processors(rows[0].settings)
    device = rows[0].text_tokens.device
    start = torch.tensor([[gpt.start_audio_token]], device=device)
    states = [_RowState(_token_limit(gpt, row.settings), start, []) for row in rows]
    alive = list(range(len(rows)))
    inputs, mask = _left_padded_prefixes(gpt, rows)
    cache = PreallocatedCache(inputs.shape[1] + max(state.limit for state in states))
    # per step, never across a `yield` (see generate_latents)
    for step in range(max(state.limit for state in states)):
        if should_stop is not None and (reason := should_stop()):
            raise GenerationStopped(reason)
        with torch.inference_mode():
            cache, alive, mask, inputs, step_result, done = _batch_step(
                gpt, rows, states, processors, alive, inputs, mask, cache, step, device
            )
        yield step_result
        if done:
            return


def _batch_step(gpt, rows, states, processors, alive, inputs, mask, cache, step, device):
    """One decoding step of `generate_latents_batch`: (cache, alive, mask, next inputs, the
    BatchStep, whether every row has ended)."""
    out = gpt.gpt(
        inputs_embeds=inputs,
        attention_mask=mask,
        past_key_values=cache,
        use_cache=True,
        return_dict=True,
    )
    cache = out.past_key_values
    latents = gpt.final_norm(out.last_hidden_state[:, -1])
    logits = gpt.mel_head(latents).float()
    kept, tokens, ended = [], [], []
    for position, index in enumerate(alive):
        token = _next_token(
            gpt, rows[index], states[index].history, processors, logits[position : position + 1]
        )
        state = states[index]
        if token != gpt.stop_audio_token:
            state.latents.append(latents[position])
        if token == gpt.stop_audio_token or len(state.latents) >= state.limit:
            ended.append(index)
            continue
        state.history = torch.cat([state.history, torch.tensor([[token]], device=device)], dim=1)
        kept.append(position)
        tokens.append(token)
    result = BatchStep(
        len(tokens) + len(ended), [(i, _stacked(states[i].latents, latents)) for i in ended]
    )
    if not kept:
        return cache, [], mask, inputs, result, True
    if len(kept) < len(alive):
        keep = torch.tensor(kept, device=device)
        cache.batch_select_indices(keep)
        mask = mask[keep]
    alive = [alive[position] for position in kept]
    next_ids = torch.tensor(tokens, device=device).unsqueeze(1)
    inputs = gpt.mel_embedding(next_ids) + gpt.mel_pos_embedding.get_fixed_embedding(
        step + 1, device
    )
    mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
    return cache, alive, mask, inputs, result, False


def _sampling_only(settings: SamplingSettings) -> SamplingSettings:
    return replace(settings, fixed_tokens=None, max_tokens=None)


def _next_token(gpt, row: BatchRow, history: torch.Tensor, processors, logits: torch.Tensor) -> int:
    if row.settings.fixed_tokens is not None:
        logits[:, gpt.stop_audio_token] = -float("inf")
    return _pick(processors(history, logits), row.settings.do_sample, row.generator)


def _stacked(latents: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.stack(latents) if latents else like.new_zeros((0, like.shape[-1]))


def _pick(scores: torch.Tensor, do_sample: bool, generator: torch.Generator | None) -> int:
    if not do_sample:
        return int(scores.argmax(dim=-1).item())
    probs = torch.softmax(scores, dim=-1)
    if generator is not None and generator.device != probs.device:
        probs = probs.to(generator.device)
    return int(torch.multinomial(probs, num_samples=1, generator=generator).item())


def teacher_forced_latents(
    gpt, cond_latent: torch.Tensor, text_tokens: torch.Tensor, codes: torch.Tensor
):
    """The latents coqui's `Xtts.inference` gets from its second GPT pass (for comparison in tests)."""
    with torch.inference_mode():
        return gpt(
            text_tokens,
            torch.tensor([text_tokens.shape[-1]], device=text_tokens.device),
            codes,
            torch.tensor([codes.shape[-1] * gpt.code_stride_len], device=text_tokens.device),
            cond_latents=cond_latent,
            return_attentions=False,
            return_latent=True,
        )
