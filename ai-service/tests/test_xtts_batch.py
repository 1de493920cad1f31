"""Batched GPT generation for book rendering, on the tiny random checkpoint."""

from __future__ import annotations

import pytest
import torch

from ownvoice_ai.engines.base import (
    BatchProgress,
    GenerationStopped,
    RenderedChunk,
    StopSignal,
    SynthesisOptions,
)
from ownvoice_ai.engines.xtts_gpt import (
    BatchRow,
    SamplingSettings,
    generate_latents,
    generate_latents_batch,
    teacher_forced_latents,
)

TEXTS = [
    "hello world, this is a test.",
    "a much longer sentence that goes on and on for quite a while, really it does.",
    "short.",
]


def _text(model, text):
    return torch.IntTensor(model.tokenizer.encode(text, lang="en")).unsqueeze(0)


def _cond(model, seed):
    return torch.randn(1, 32, model.gpt.model_dim, generator=torch.Generator().manual_seed(seed))


def _generator(seed=5):
    return torch.Generator().manual_seed(seed)


def _single(model, cond, text, settings):
    steps = list(generate_latents(model.gpt, cond, _text(model, text), settings, _generator()))
    return [code for code, _ in steps], torch.stack([latent for _, latent in steps])


def _batch(model, conds, texts, settings):
    rows = [
        BatchRow(c, _text(model, t), s, _generator())
        for c, t, s in zip(conds, texts, settings, strict=True)
    ]
    ended = {}
    for step in generate_latents_batch(model.gpt, rows):
        for index, latents in step.ended:
            assert index not in ended
            ended[index] = latents
    return ended


def test_each_row_of_a_batch_equals_its_single_run(tiny_model):
    """Different text lengths (left padding) and different limits (rows leave the batch early)."""
    conds = [_cond(tiny_model, seed) for seed in range(3)]
    settings = [SamplingSettings(fixed_tokens=n) for n in (17, 30, 9)]
    batched = _batch(tiny_model, conds, TEXTS, settings)
    assert sorted(batched) == [0, 1, 2]
    for index, text in enumerate(TEXTS):
        codes, latents = _single(tiny_model, conds[index], text, settings[index])
        assert (
            batched[index].shape
            == latents.shape
            == (settings[index].fixed_tokens, tiny_model.gpt.model_dim)
        )
        assert (batched[index] - latents).abs().max() < 1e-4
        # and they pair with the codes as coqui's teacher-forced second pass would
        reference = teacher_forced_latents(
            tiny_model.gpt, conds[index], _text(tiny_model, text), torch.tensor([codes])
        )
        assert (batched[index] - reference[0]).abs().max() < 1e-4


def test_rows_end_in_the_order_of_their_limits(tiny_model):
    conds = [_cond(tiny_model, 0)] * 3
    settings = [SamplingSettings(fixed_tokens=n) for n in (12, 4, 8)]
    rows = [
        BatchRow(c, _text(tiny_model, t), s, _generator())
        for c, t, s in zip(conds, TEXTS, settings, strict=True)
    ]
    order, tokens = [], 0
    for step in generate_latents_batch(tiny_model.gpt, rows):
        order += [index for index, _ in step.ended]
        tokens += step.tokens
    assert order == [1, 2, 0]
    assert tokens == 12 + 4 + 8


def test_a_batch_stops_on_the_stop_signal(tiny_model):
    stop = StopSignal()
    rows = [
        BatchRow(_cond(tiny_model, i), _text(tiny_model, t), SamplingSettings(fixed_tokens=400))
        for i, t in enumerate(TEXTS)
    ]
    steps = generate_latents_batch(tiny_model.gpt, rows, should_stop=stop.reason)
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
        next(generate_latents_batch(tiny_model.gpt, rows))


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    from ownvoice_ai.engines.xtts import StreamTuning, XttsEngine
    from ownvoice_ai.model_source import ModelSource

    engine = XttsEngine(
        ModelSource(tiny_checkpoint, "tiny", "demo-tiny"),
        tuning=StreamTuning(speaking_rate_tokens=True),
        batch_size=2,
    )
    engine.load()
    return engine


@pytest.fixture
def voice(engine):
    from ownvoice_ai.conditioning import Conditioning

    generator = torch.Generator().manual_seed(9)
    d_model = engine.model.gpt.model_dim
    return Conditioning(
        torch.randn(1, 32, d_model, generator=generator),
        torch.randn(1, 512, 1, generator=generator),
        "v",
        "tiny",
    )


def test_render_batch_gives_every_chunk_the_audio_stream_would(engine, voice):
    """Three chunks in batches of two: each equals `stream` with the same seed (whole-sentence decode)."""
    options = SynthesisOptions(seed=3)
    rendered = [
        event
        for event in engine.render_batch(TEXTS, voice, options)
        if isinstance(event, RenderedChunk)
    ]
    assert sorted(chunk.index for chunk in rendered) == [0, 1, 2]
    for chunk in rendered:
        streamed = torch.from_numpy(
            torch.cat(
                [
                    torch.from_numpy(p.samples)
                    for p in engine.stream(TEXTS[chunk.index], voice, options)
                ]
            ).numpy()
        )
        assert chunk.sample_rate == 24000
        assert len(chunk.samples) == len(streamed)
        assert (torch.from_numpy(chunk.samples) - streamed).abs().max() < 1e-3


def test_render_batch_sends_heartbeats(engine, voice, monkeypatch):
    from ownvoice_ai.engines import xtts

    monkeypatch.setattr(xtts, "PROGRESS_EVERY_S", 0.0)
    events = list(engine.render_batch(TEXTS, voice, SynthesisOptions(seed=1)))
    beats = [event.tokens for event in events if isinstance(event, BatchProgress)]
    assert beats and beats == sorted(beats) and beats[-1] > 0


@pytest.fixture
def overlapped(engine):
    """The engine with the fast path's vocoder thread (StreamTuning.overlap_vocoder)."""
    from dataclasses import replace

    tuning = engine.tuning
    engine.tuning = replace(tuning, overlap_vocoder=True)
    yield engine
    engine.tuning = tuning


def _rendered(engine, voice, options) -> list[RenderedChunk]:
    return [e for e in engine.render_batch(TEXTS, voice, options) if isinstance(e, RenderedChunk)]


def test_render_batch_with_the_vocoder_on_a_second_thread_gives_the_same_samples(
    engine, voice, monkeypatch
):
    """The fast path vocodes ended sentences beside the GPT's next steps: every sentence comes
    out, in the order the rows ended, with exactly the samples of the in-line decode."""
    from dataclasses import replace

    options = SynthesisOptions(seed=4)
    inline = _rendered(engine, voice, options)
    monkeypatch.setattr(engine, "tuning", replace(engine.tuning, overlap_vocoder=True))
    beside = _rendered(engine, voice, options)
    assert [c.index for c in beside] == [c.index for c in inline]
    assert sorted(c.index for c in beside) == [0, 1, 2]
    for ours, theirs in zip(beside, inline, strict=True):
        assert ours.sample_rate == theirs.sample_rate == 24000
        assert len(ours.samples) == len(theirs.samples) > 0
        assert float(abs(ours.samples - theirs.samples).max()) == 0.0


def test_render_batch_sends_heartbeats_while_the_last_sentences_are_vocoded(
    overlapped, voice, monkeypatch
):
    """The GPT has ended; the vocoder thread is still busy (held here by a gate): the worker
    still hears from the job (its stall clock), and every sentence comes out once it is done."""
    import threading

    from ownvoice_ai.engines import xtts

    monkeypatch.setattr(xtts, "PROGRESS_EVERY_S", 0.01)
    gate, gpt_done = threading.Event(), threading.Event()
    decode = xtts.full_decode

    def held_decode(*args, **kwargs):
        assert gate.wait(60), "the test never opened the gate"
        return decode(*args, **kwargs)

    steps = overlapped._batch_steps

    def gpt_steps(*args, **kwargs):
        yield from steps(*args, **kwargs)
        gpt_done.set()

    monkeypatch.setattr(xtts, "full_decode", held_decode)
    monkeypatch.setattr(overlapped, "_batch_steps", gpt_steps)
    beats_after_gpt, chunks = 0, []
    for event in overlapped.render_batch(TEXTS, voice, SynthesisOptions(seed=1)):
        if isinstance(event, RenderedChunk):
            chunks.append(event.index)
        elif gpt_done.is_set():
            beats_after_gpt += 1
            if beats_after_gpt == 3:
                gate.set()
    assert sorted(chunks) == [0, 1, 2]
    assert beats_after_gpt >= 3


def test_render_batch_stopped_early_leaves_no_vocoder_thread(overlapped, voice):
    import threading

    events = overlapped.render_batch(TEXTS, voice, SynthesisOptions(seed=2))
    next(event for event in events if isinstance(event, RenderedChunk))
    events.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("ownvoice-vocoder")]


@pytest.mark.parametrize("beside", [False, True])
def test_render_batch_runs_on_its_own_thread_count_and_gives_the_worker_its_own_back(
    engine, voice, beside
):
    """batch_threads holds for each GPT step and each decode, never across a yield: between two
    events the worker thread (which runs listeners' steps then) is on its own count again."""
    from dataclasses import replace

    from ownvoice_ai.engines import xtts

    own = torch.get_num_threads()
    batch = 1 if own > 1 else 2
    counts: list[int] = []
    steps, decode = engine._batch_steps, xtts.full_decode

    def counted_steps(*args, **kwargs):
        for step in steps(*args, **kwargs):
            counts.append(torch.get_num_threads())
            yield step

    def counted_decode(*args, **kwargs):
        counts.append(torch.get_num_threads())
        return decode(*args, **kwargs)

    tuning = engine.tuning
    engine.tuning, engine.batch_threads = replace(tuning, overlap_vocoder=beside), batch
    engine._batch_steps = counted_steps
    xtts.full_decode = counted_decode
    try:
        between = []
        for _event in engine.render_batch(TEXTS, voice, SynthesisOptions(seed=5)):
            between.append(torch.get_num_threads())
    finally:
        engine.tuning, engine.batch_threads = tuning, None
        del engine._batch_steps
        xtts.full_decode = decode
    assert counts and set(counts) == {batch}
    assert between and set(between) == {own}
    assert torch.get_num_threads() == own


def test_render_batch_honours_speed(engine, voice):
    normal = next(
        e
        for e in engine.render_batch(["hello there."], voice, SynthesisOptions(seed=1))
        if isinstance(e, RenderedChunk)
    )
    fast = next(
        e
        for e in engine.render_batch(["hello there."], voice, SynthesisOptions(seed=1, speed=2.0))
        if isinstance(e, RenderedChunk)
    )
    assert abs(len(fast.samples) / len(normal.samples) - 0.5) < 0.05


def test_preallocated_kv_cache_equals_dynamic_cache(tiny_model):
    """Same hidden states step by step, a batch row dropped half way; writing past capacity is refused."""
    from transformers import DynamicCache

    from ownvoice_ai.engines.kv_cache import PreallocatedCache

    gpt = tiny_model.gpt
    embeddings = torch.randn(3, 12, gpt.model_dim, generator=torch.Generator().manual_seed(2))

    def run(cache):
        states = []
        with torch.inference_mode():
            out = gpt.gpt(inputs_embeds=embeddings[:, :8], past_key_values=cache, use_cache=True)
            states.append(out.last_hidden_state[:, -1])
            for step in range(8, 12):
                if step == 10:
                    cache.batch_select_indices(torch.tensor([0, 2]))
                rows = [0, 1, 2] if step < 10 else [0, 2]
                out = gpt.gpt(
                    inputs_embeds=embeddings[rows, step : step + 1],
                    past_key_values=cache,
                    use_cache=True,
                )
                states.append(out.last_hidden_state[:, -1])
        return states

    for dynamic, preallocated in zip(run(DynamicCache()), run(PreallocatedCache(12)), strict=True):
        assert (dynamic - preallocated).abs().max() < 1e-5
    with pytest.raises(ValueError, match="holds 8 positions"), torch.inference_mode():
        gpt.gpt(
            inputs_embeds=embeddings[:, :9], past_key_values=PreallocatedCache(8), use_cache=True
        )
