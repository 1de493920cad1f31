"""Continuous batching (engines/xtts_continuous.py), on the tiny random checkpoint."""

from __future__ import annotations

import pytest
import torch

from ownvoice_ai.engines.base import GenerationStopped, StopSignal
from ownvoice_ai.engines.xtts_continuous import _ContinuousBatch, generate_latents_continuous
from ownvoice_ai.engines.xtts_gpt import (
    BatchRow,
    ConditioningPrefix,
    SamplingSettings,
    teacher_forced_latents,
)
from tests.test_xtts_batch import _cond, _generator, _single, _text

# texts of different lengths (so rows enter with different prefixes) and token limits that end
# rows at different steps (so rows leave, and are replaced, mid-batch)
TEXTS = [
    "short.",
    "a much longer sentence that goes on and on for quite a while, really it does.",
    "hello world, this is a test.",
    "one more, of middling length.",
    "the longest of them all, since it has to push the cache to the left when it arrives late.",
    "end.",
]
LIMITS = [9, 30, 17, 5, 21, 12]


def _rows(model, limits=LIMITS, texts=TEXTS):
    return [
        BatchRow(
            _cond(model, index), _text(model, text), SamplingSettings(fixed_tokens=n), _generator()
        )
        for index, (text, n) in enumerate(zip(texts, limits, strict=True))
    ]


def _run(model, rows, width, prefixes=None):
    ended, tokens_per_step = {}, []
    for step in generate_latents_continuous(model.gpt, rows, width, prefixes=prefixes):
        tokens_per_step.append(step.tokens)
        for index, latents in step.ended:
            assert index not in ended
            ended[index] = latents
    return ended, tokens_per_step


@pytest.mark.parametrize("prefilled_voices", [False, True], ids=["whole prefill", "voices kept"])
def test_each_row_equals_its_single_run_whatever_ran_beside_it(tiny_model, prefilled_voices):
    """Sampled rows (each with its own generator) entering and leaving a batch of two; also with
    each voice's conditioning positions prefilled once (ConditioningPrefix: six voices here)."""
    prefixes = ConditioningPrefix(tiny_model.gpt, voices=8) if prefilled_voices else None
    ended, _ = _run(tiny_model, _rows(tiny_model), width=2, prefixes=prefixes)
    assert prefixes is None or len(prefixes._kept) == len(TEXTS)
    assert sorted(ended) == list(range(len(TEXTS)))
    for index, (text, limit) in enumerate(zip(TEXTS, LIMITS, strict=True)):
        cond = _cond(tiny_model, index)
        codes, latents = _single(tiny_model, cond, text, SamplingSettings(fixed_tokens=limit))
        assert ended[index].shape == latents.shape == (limit, tiny_model.gpt.model_dim)
        assert (ended[index] - latents).abs().max() < 1e-4
        reference = teacher_forced_latents(
            tiny_model.gpt, cond, _text(tiny_model, text), torch.tensor([codes])
        )
        assert (ended[index] - reference[0]).abs().max() < 1e-4


def test_the_batch_stays_full_until_the_rows_run_out(tiny_model):
    """Width 3: while rows wait, every decoding step runs 3 rows; every row's tokens come out."""
    batch = _ContinuousBatch(tiny_model.gpt, _rows(tiny_model), width=3)
    tokens, decodes = 0, 0
    with torch.inference_mode():
        while not batch.finished:
            waiting, live = len(batch.waiting), len(batch.live)
            step = batch.step()
            tokens += step.tokens
            if len(batch.waiting) == waiting:  # no row entered: a decoding step
                decodes += 1
                assert live == 3 or not waiting
    assert tokens == sum(LIMITS)
    # a fixed batch of 3 runs rows 0-2 down to one row (30 steps), then rows 3-5 (21 steps)
    assert decodes < 40


def test_the_cache_follows_the_live_rows_not_the_book(tiny_model):
    """Twelve rows through a batch of two: the cache never holds more than two rows' spans."""
    texts = ["hello world, this is a test."] * 12
    rows = _rows(tiny_model, limits=[20] * 12, texts=texts)
    batch = _ContinuousBatch(tiny_model.gpt, rows, width=2)
    prefix = 32 + _text(tiny_model, texts[0]).shape[-1] + 3
    longest = 0
    with torch.inference_mode():
        while not batch.finished:
            batch.step()
            longest = max(longest, batch.cache.length)
            assert batch.mask.shape == (len(batch.live), batch.cache.length)
    # without dropping columns it would reach 6 generations of 20 tokens past the prefix
    assert longest <= prefix + 20 + 1


def test_a_continuous_batch_stops_on_the_stop_signal(tiny_model):
    stop = StopSignal()
    rows = _rows(tiny_model, limits=[400] * len(TEXTS))
    steps = generate_latents_continuous(tiny_model.gpt, rows, 2, should_stop=stop.reason)
    next(steps)
    stop.cancel("client gone")
    with pytest.raises(GenerationStopped, match="client gone"):
        next(steps)


def test_rows_must_share_sampling_settings(tiny_model):
    rows = [
        BatchRow(
            _cond(tiny_model, 0), _text(tiny_model, "one."), SamplingSettings(temperature=0.7)
        ),
        BatchRow(
            _cond(tiny_model, 0), _text(tiny_model, "two."), SamplingSettings(temperature=0.9)
        ),
    ]
    with pytest.raises(ValueError, match="same sampling settings"):
        next(generate_latents_continuous(tiny_model.gpt, rows, 2))
