"""The GPU paths on a CUDA device: the GPT decode step captured as CUDA graphs (single row and
batched) against the eager Hugging Face loop on the same device, the engine's graphed stream and
book rendering against its eager ones, and the fp16 model on graphs.

The CUDA tests are skipped where torch sees no CUDA device (CI, and this project's CPU machines): these run on a
lent GPU machine together with `python -m bench.gpu` (README, "GPU"). The same fixed-shape step
runs eagerly on the CPU in test_xtts_static.py, in every suite.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ownvoice_ai.engines.xtts_gpt import (
    BatchRow,
    SamplingSettings,
    generate_latents,
    generate_latents_batch,
)
from ownvoice_ai.engines.xtts_static import (
    DecoderPool,
    generate_latents_batch_static,
    generate_latents_static,
)
from tests.test_xtts_batch import TEXTS, _generator
from tests.test_xtts_batch import _cond as batch_cond
from tests.test_xtts_batch import _text as batch_text

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# fp32 on two kernel schedules (graph replay vs eager launches; SDPA over the full buffer vs the
# grown cache): float rounding only
LATENT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def cuda_model(tiny_checkpoint):
    from ownvoice_ai.checkpoints import load_checkpoint

    return load_checkpoint(tiny_checkpoint, device="cpu").to("cuda")


@pytest.fixture(scope="module")
def graphs(cuda_model):
    return DecoderPool(cuda_model.gpt, graphs=True)


def _text(model, text):
    return batch_text(model, text).cuda()


def _cond(model, seed):
    return batch_cond(model, seed).cuda()


@needs_cuda
@pytest.mark.parametrize("do_sample", [False, True])
def test_a_graphed_run_equals_the_eager_loop(cuda_model, graphs, do_sample):
    settings = SamplingSettings(fixed_tokens=40, do_sample=do_sample)
    cond, text = _cond(cuda_model, 1), _text(cuda_model, TEXTS[1])
    eager = list(generate_latents(cuda_model.gpt, cond, text, settings, _generator()))
    graphed = list(
        generate_latents_static(cuda_model.gpt, graphs, cond, text, settings, _generator())
    )
    assert graphs.get(1).graph is not None  # captured, and replayed for every step
    assert [c for c, _ in graphed] == [c for c, _ in eager]
    assert len(graphed) == 40
    diff = torch.stack([a for _, a in graphed]) - torch.stack([b for _, b in eager])
    assert diff.abs().max().item() < LATENT_TOLERANCE


@needs_cuda
def test_the_graph_is_replayed_across_sentences(cuda_model, graphs):
    """A second and third sentence on the same captured graph (stale buffers) stay exact."""
    settings = SamplingSettings(fixed_tokens=20)
    captured = graphs.get(1).graph
    for seed, text in enumerate(TEXTS):
        cond, tokens = _cond(cuda_model, seed), _text(cuda_model, text)
        eager = list(generate_latents(cuda_model.gpt, cond, tokens, settings, _generator()))
        graphed = list(
            generate_latents_static(cuda_model.gpt, graphs, cond, tokens, settings, _generator())
        )
        assert [c for c, _ in graphed] == [c for c, _ in eager]
    assert graphs.get(1).graph is captured


@needs_cuda
def test_a_graphed_batch_equals_the_eager_batch(cuda_model, graphs):
    """Left padding, rows that end early and a batch graph of its own: the eager batch's latents."""
    conds = [_cond(cuda_model, seed) for seed in range(3)]
    settings = [SamplingSettings(fixed_tokens=n) for n in (17, 30, 9)]

    def rows():
        return [
            BatchRow(c, _text(cuda_model, t), s, _generator())
            for c, t, s in zip(conds, TEXTS, settings, strict=True)
        ]

    def ended(steps):
        out = {}
        for step in steps:
            for index, latents in step.ended:
                out[index] = latents
        return out

    eager = ended(generate_latents_batch(cuda_model.gpt, rows()))
    graphed = ended(generate_latents_batch_static(cuda_model.gpt, graphs, rows()))
    assert graphs.get(3).graph is not None
    assert sorted(graphed) == sorted(eager) == [0, 1, 2]
    for index in range(3):
        assert graphed[index].shape == (settings[index].fixed_tokens, cuda_model.gpt.model_dim)
        assert (graphed[index] - eager[index]).abs().max().item() < LATENT_TOLERANCE


@needs_cuda
def test_the_engine_streams_and_renders_on_graphs_as_it_does_eagerly(tiny_checkpoint):
    """XttsEngine on CUDA captures its graphs at load; a stream and a batch render give the eager
    engine's audio (same seed) within float rounding, and fp16 runs on graphs too."""
    from ownvoice_ai.conditioning import Conditioning
    from ownvoice_ai.engines.base import RenderedChunk, SynthesisOptions
    from ownvoice_ai.engines.xtts import StreamTuning, XttsEngine
    from ownvoice_ai.model_source import ModelSource
    from ownvoice_ai.optimize import half_precision_gpt, half_precision_vocoder

    engine = XttsEngine(
        ModelSource(tiny_checkpoint, "tiny", "demo-tiny"),
        requested_device="cuda",
        tuning=StreamTuning(8, 24, 12),
    )
    status = engine.load()
    assert status.available and status.device == "cuda", status.reason
    assert status.extra["cuda_graphs"] is True and engine.decoders is not None
    voice = Conditioning(
        torch.randn(1, 32, engine.model.gpt.model_dim, generator=torch.Generator().manual_seed(3)),
        torch.randn(1, 512, 1, generator=torch.Generator().manual_seed(4)),
        "a",
        "tiny",
    )
    options = SynthesisOptions(seed=11, temperature=0.01, top_k=1)

    def outputs():
        streamed = np.concatenate([c.samples for c in engine.stream(TEXTS[0], voice, options)])
        rendered = {
            event.index: event.samples
            for event in engine.render_batch(TEXTS, voice, options)
            if isinstance(event, RenderedChunk)
        }
        return streamed, rendered

    graphed_stream, graphed_render = outputs()
    engine.use_cuda_graphs(False)
    eager_stream, eager_render = outputs()
    assert len(graphed_stream) == len(eager_stream) > 0
    assert np.abs(graphed_stream - eager_stream).max() < 1e-2
    assert sorted(graphed_render) == sorted(eager_render) == [0, 1, 2]
    for index, samples in eager_render.items():
        assert len(graphed_render[index]) == len(samples) > 0
        assert np.abs(graphed_render[index] - samples).max() < 1e-2

    half_precision_gpt(engine.model, torch.float16)
    half_precision_vocoder(engine.model, torch.float16)
    engine.use_cuda_graphs(True)
    half_stream = np.concatenate([c.samples for c in engine.stream(TEXTS[0], voice, options)])
    assert engine.decoders is not None and engine.decoders.get(1).dtype == torch.float16
    assert len(half_stream) > 0 and np.isfinite(half_stream).all()
    half_render = [
        event
        for event in engine.render_batch(TEXTS, voice, options)
        if isinstance(event, RenderedChunk)
    ]
    assert sorted(event.index for event in half_render) == [0, 1, 2]
    assert all(np.isfinite(event.samples).all() and len(event.samples) for event in half_render)


# --- on the CPU, in every suite: the GPU bench's own code paths ---------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU smoke run of the GPU bench")
def test_the_gpu_bench_runs_on_the_cpu_and_says_met_or_missed(tmp_path, tiny_checkpoint):
    """bench.gpu's variants, its reduced-precision comparison (bfloat16: fp16 is for GPUs) and its
    target lines, on the tiny checkpoint: what a GPU run does, less the graphs."""
    import json

    from bench import gpu

    bench = gpu.GpuBench(tiny_checkpoint, "cpu", tokens=4, workdir=tmp_path, repeats=1)
    variant = bench.variant(graphs=True, batch_sizes=[1, 2], sentences=2)
    assert variant["cuda_graphs"] is False  # asked for, but a CPU has none
    assert variant["graph_vs_eager"] == {"skipped": "no CUDA graphs on this device"}
    assert 0 < variant["stream"]["ttfa_s"] < variant["stream"]["total_s"]
    # fixed token counts: every sentence is as long; the stream speaks three, a render two
    rendered = variant["render"]["1"]["audio_s"]
    assert variant["render"]["2"]["audio_s"] == pytest.approx(rendered)
    assert variant["stream"]["audio_s"] == pytest.approx(rendered * len(gpu.PARAGRAPH) / 2)
    for render in variant["render"].values():
        assert render["sentences"] == 2
        assert render["x_real_time"] == pytest.approx(render["audio_s"] / render["seconds"])
    numerics = gpu.fp16_numerics(bench, torch.bfloat16)
    assert 0 < numerics["latent_rel_l2"] < 0.05 and numerics["audio_snr_db"] > 20
    assert next(bench.engine.model.gpt.gpt.parameters()).dtype == torch.bfloat16  # the decoder
    lines = gpu.targets({"cpu": variant})
    assert len(lines) == 2 and all(line.endswith(("met", "missed")) for line in lines)
    assert "missed" in lines[1]  # a tiny model on a CPU is nowhere near 100x real time
    json.dumps(variant)  # what the bench writes after every variant
