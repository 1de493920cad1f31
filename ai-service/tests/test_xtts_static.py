"""The fixed-shape decode step (CUDA graphs' form of the GPT loop), run eagerly on the CPU: it must
give what the Hugging Face loop gives, single and batched. The graph capture itself needs CUDA and
is exercised by `python -m bench.gpu` on a GPU machine."""

from __future__ import annotations

import pytest
import torch

from ownvoice_ai.engines.base import GenerationStopped, StopSignal
from ownvoice_ai.engines.xtts_gpt import (
    BatchRow,
    SamplingSettings,
    generate_latents,
    generate_latents_batch,
)
from ownvoice_ai.engines.xtts_static import (
    DecoderPool,
    StaticDecoder,
    generate_latents_batch_static,
    generate_latents_static,
    sequence_capacity,
)
from tests.test_xtts_batch import TEXTS, _cond, _generator, _text


@pytest.fixture(scope="module")
def pool(tiny_model):
    return DecoderPool(tiny_model.gpt, graphs=False)


@pytest.mark.parametrize("do_sample", [False, True])
def test_a_single_run_equals_the_hugging_face_loop(tiny_model, pool, do_sample):
    settings = SamplingSettings(fixed_tokens=24, do_sample=do_sample)
    cond, text = _cond(tiny_model, 1), _text(tiny_model, TEXTS[1])
    reference = list(generate_latents(tiny_model.gpt, cond, text, settings, _generator()))
    static = list(generate_latents_static(tiny_model.gpt, pool, cond, text, settings, _generator()))
    assert [code for code, _ in static] == [code for code, _ in reference]
    assert len(static) == 24
    difference = torch.stack([a for _, a in static]) - torch.stack([b for _, b in reference])
    assert difference.abs().max() < 1e-4


def test_the_decoder_is_reused_across_sentences(tiny_model, pool):
    """The second sentence on the same decoder (stale buffers from the first) is still exact."""
    settings = SamplingSettings(fixed_tokens=12)
    for text in (TEXTS[1], TEXTS[2]):
        cond, tokens = _cond(tiny_model, 2), _text(tiny_model, text)
        reference = list(generate_latents(tiny_model.gpt, cond, tokens, settings, _generator()))
        static = list(
            generate_latents_static(tiny_model.gpt, pool, cond, tokens, settings, _generator())
        )
        assert [c for c, _ in static] == [c for c, _ in reference]
        assert (
            torch.stack([a for _, a in static]) - torch.stack([b for _, b in reference])
        ).abs().max() < 1e-4
    assert list(pool._decoders) == [1]


def test_a_batch_equals_the_hugging_face_batch(tiny_model, pool):
    """Left padding and rows that end early (they keep stepping, ignored) change nothing."""
    conds = [_cond(tiny_model, seed) for seed in range(3)]
    settings = [SamplingSettings(fixed_tokens=n) for n in (17, 30, 9)]

    def rows():
        return [
            BatchRow(c, _text(tiny_model, t), s, _generator())
            for c, t, s in zip(conds, TEXTS, settings, strict=True)
        ]

    def ended(steps):
        out, tokens = {}, 0
        for step in steps:
            tokens += step.tokens
            for index, latents in step.ended:
                assert index not in out
                out[index] = latents
        return out, tokens

    reference, reference_tokens = ended(generate_latents_batch(tiny_model.gpt, rows()))
    static, static_tokens = ended(generate_latents_batch_static(tiny_model.gpt, pool, rows()))
    assert sorted(static) == [0, 1, 2]
    assert static_tokens == reference_tokens == 17 + 30 + 9
    for index in range(3):
        assert static[index].shape == (settings[index].fixed_tokens, tiny_model.gpt.model_dim)
        assert (static[index] - reference[index]).abs().max() < 1e-4


def test_a_stop_signal_ends_the_static_loop(tiny_model, pool):
    stop = StopSignal()
    steps = generate_latents_static(
        tiny_model.gpt,
        pool,
        _cond(tiny_model, 0),
        _text(tiny_model, TEXTS[0]),
        SamplingSettings(fixed_tokens=50),
        _generator(),
        should_stop=stop.reason,
    )
    next(steps)
    stop.cancel("cancelled")
    with pytest.raises(GenerationStopped):
        list(steps)


def test_the_capacity_holds_the_longest_sequence_and_graphs_need_cuda(tiny_model):
    gpt = tiny_model.gpt
    assert sequence_capacity(gpt) >= 32 + gpt.max_text_tokens + gpt.max_gen_mel_tokens
    with pytest.raises(ValueError, match="CUDA"):
        StaticDecoder(gpt, 1, 8, graph=True)


def test_the_engine_streams_and_renders_the_same_audio_on_static_decoders(tiny_checkpoint):
    """XttsEngine with its decoders set (what CUDA gets, here eager on the CPU): same samples as the
    Hugging Face loop for a stream and for a batch render with the same seed."""
    import numpy as np

    from ownvoice_ai.conditioning import Conditioning
    from ownvoice_ai.engines.base import RenderedChunk, SynthesisOptions
    from ownvoice_ai.engines.xtts import StreamTuning, XttsEngine
    from ownvoice_ai.model_source import ModelSource

    engine = XttsEngine(
        ModelSource(tiny_checkpoint, "tiny", "demo-tiny"), tuning=StreamTuning(8, 24, 12)
    )
    assert engine.load().available and engine.decoders is None  # no CUDA here
    assert engine.status().extra["cuda_graphs"] is False
    voice = Conditioning(
        torch.randn(1, 32, engine.model.gpt.model_dim, generator=torch.Generator().manual_seed(3)),
        torch.randn(1, 512, 1, generator=torch.Generator().manual_seed(4)),
        "a",
        "tiny",
    )
    options = SynthesisOptions(seed=11)

    def outputs():
        streamed = np.concatenate([c.samples for c in engine.stream(TEXTS[0], voice, options)])
        rendered = {
            event.index: event.samples
            for event in engine.render_batch(TEXTS[:2], voice, options)
            if isinstance(event, RenderedChunk)
        }
        return streamed, rendered

    reference = outputs()
    engine.decoders = DecoderPool(engine.model.gpt, graphs=False)
    static = outputs()
    assert static[0].shape == reference[0].shape
    assert np.abs(static[0] - reference[0]).max() < 1e-3
    assert sorted(static[1]) == sorted(reference[1]) == [0, 1]
    for index in range(2):
        assert np.abs(static[1][index] - reference[1][index]).max() < 1e-3
