"""XTTS engine pieces on the tiny random checkpoint: token loop, windowed vocoder, conditioning."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ownvoice_ai.engines.base import GenerationStopped, StopSignal, SynthesisOptions
from ownvoice_ai.engines.xtts_gpt import (
    SamplingSettings,
    generate_latents,
    teacher_forced_latents,
)
from ownvoice_ai.engines.xtts_vocoder import VocoderStream, full_decode


def _text(model, text="hello world, this is a test."):
    return torch.IntTensor(model.tokenizer.encode(text, lang="en")).unsqueeze(0)


def _cond(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(1, 32, model.gpt.model_dim, generator=generator)


def test_streamed_latents_equal_coqui_second_pass(tiny_model):
    """The loop's latents are what Xtts.inference's second full GPT pass would compute."""
    generator = torch.Generator().manual_seed(1)
    steps = list(
        generate_latents(
            tiny_model.gpt,
            _cond(tiny_model),
            _text(tiny_model),
            SamplingSettings(fixed_tokens=40),
            generator,
        )
    )
    codes = torch.tensor([[code for code, _ in steps]])
    latents = torch.stack([latent for _, latent in steps])
    reference = teacher_forced_latents(tiny_model.gpt, _cond(tiny_model), _text(tiny_model), codes)[
        0
    ]
    assert latents.shape == reference.shape == (40, tiny_model.gpt.model_dim)
    assert torch.allclose(latents, reference, atol=1e-4)


def test_the_text_head_is_freed_and_no_inference_path_needed_it(tiny_model):
    """optimize.drop_text_head: coqui's teacher-forced pass (the latents `Xtts.inference`
    vocodes) and our token loop give the same latents without XTTS's text head."""
    from ownvoice_ai.optimize import drop_text_head

    model = copy.deepcopy(tiny_model)
    codes = torch.tensor([[code for code, _ in _loop(model, 12)]])
    before = teacher_forced_latents(model.gpt, _cond(model), _text(model), codes)
    assert drop_text_head(model) and model.gpt.text_head is None
    assert not drop_text_head(model)  # already gone
    after = teacher_forced_latents(model.gpt, _cond(model), _text(model), codes)
    assert torch.equal(before, after)
    assert [code for code, _ in _loop(model, 12)] == codes[0].tolist()


def _loop(model, tokens: int):
    settings = SamplingSettings(fixed_tokens=tokens)
    generator = torch.Generator().manual_seed(2)
    return generate_latents(model.gpt, _cond(model), _text(model), settings, generator)


def test_fixed_tokens_and_seed_are_reproducible(tiny_model):
    def run(seed):
        generator = torch.Generator().manual_seed(seed)
        settings = SamplingSettings(fixed_tokens=17)
        return [
            code
            for code, _ in generate_latents(
                tiny_model.gpt, _cond(tiny_model), _text(tiny_model), settings, generator
            )
        ]

    first, again, other = run(5), run(5), run(6)
    assert len(first) == 17
    assert first == again
    assert first != other


def test_stop_signal_stops_within_one_token(tiny_model):
    stop = StopSignal()
    produced = 0
    loop = generate_latents(
        tiny_model.gpt,
        _cond(tiny_model),
        _text(tiny_model),
        SamplingSettings(fixed_tokens=500),
        should_stop=stop.reason,
    )
    with pytest.raises(GenerationStopped) as stopped:
        for _ in loop:
            produced += 1
            if produced == 5:
                stop.cancel()
    assert produced == 5
    assert stopped.value.reason == "cancelled"


def test_deadline_stops_the_loop(tiny_model):
    stop = StopSignal(timeout_s=0.0)
    loop = generate_latents(
        tiny_model.gpt,
        _cond(tiny_model),
        _text(tiny_model),
        SamplingSettings(fixed_tokens=500),
        should_stop=stop.reason,
    )
    with pytest.raises(GenerationStopped, match="timeout"):
        next(loop)


def _stream(model, latents, speaker, every, **kwargs):
    vocoder = VocoderStream(model.hifigan_decoder, speaker, len(latents), **kwargs)
    pieces = []
    for index, latent in enumerate(latents):
        vocoder.push(latent)
        if (index + 1) % every == 0 and (piece := vocoder.decode_ready()) is not None:
            pieces.append(piece)
    pieces.append(vocoder.finish())
    return pieces, vocoder


@pytest.mark.parametrize("length_scale", [1.0, 1 / 1.25, 1 / 0.8])
def test_streamed_audio_equals_full_decode(tiny_model, length_scale):
    torch.manual_seed(0)
    latents = torch.randn(70, tiny_model.gpt.model_dim)
    speaker = torch.randn(1, 512, 1)
    pieces, _ = _stream(tiny_model, latents, speaker, every=9, length_scale=length_scale)
    streamed = torch.cat(pieces)
    reference = full_decode(tiny_model.hifigan_decoder, latents, speaker, length_scale)
    assert len(pieces) > 4
    assert streamed.shape == reference.shape
    assert (streamed - reference).abs().max() < 1e-4


def test_vocoder_work_per_chunk_stays_bounded(tiny_model):
    """Window length depends on the chunk size, not on how long the sentence already is."""
    torch.manual_seed(0)
    speaker = torch.randn(1, 512, 1)
    _, short = _stream(tiny_model, torch.randn(60, tiny_model.gpt.model_dim), speaker, every=10)
    _, long = _stream(tiny_model, torch.randn(400, tiny_model.gpt.model_dim), speaker, every=10)
    assert len(long.window_frames) > 30
    assert max(long.window_frames) == max(short.window_frames)
    assert max(long.window_frames) < 10 * 5 + 2 * 16 + 8  # ~4.35 frames per latent + context


def _join_steps(model, crossfade_samples):
    """Largest step of (streamed - full decode) at the joins, and its 99th percentile elsewhere."""
    torch.manual_seed(0)
    latents = torch.randn(80, model.gpt.model_dim)
    speaker = torch.randn(1, 512, 1)
    # No context at all: neighbouring windows disagree near their edges, as a careless stream would.
    pieces, _ = _stream(
        model,
        latents,
        speaker,
        every=8,
        context_frames=0,
        lookahead_frames=1,
        crossfade_samples=crossfade_samples,
    )
    error = torch.cat(pieces).numpy() - full_decode(model.hifigan_decoder, latents, speaker).numpy()
    joins = np.cumsum([len(piece) for piece in pieces])[:-1]
    return np.abs(error[joins] - error[joins - 1]).max(), np.percentile(np.abs(np.diff(error)), 99)


def test_crossfaded_joins_do_not_click(tiny_model):
    at_joins, elsewhere = _join_steps(tiny_model, crossfade_samples=256)
    assert at_joins <= 2 * elsewhere
    # the same measure catches the click when the crossfade is off
    hard_joins, hard_elsewhere = _join_steps(tiny_model, crossfade_samples=0)
    assert hard_joins > 10 * hard_elsewhere


def test_whole_reference_is_used_for_conditioning(tiny_checkpoint, ljspeech_wavs, monkeypatch):
    from ownvoice_ai.conditioning import read_wav
    from ownvoice_ai.engines.xtts import XttsEngine
    from ownvoice_ai.model_source import ModelSource

    engine = XttsEngine(ModelSource(tiny_checkpoint, "tiny", "demo-tiny"))
    assert engine.load().available
    seen = []
    original = engine.model.get_gpt_cond_latents

    def spy(audio, sr, length=30, chunk_length=6):
        seen.append((audio.shape[-1] / sr, length))
        return original(audio, sr, length=length, chunk_length=chunk_length)

    monkeypatch.setattr(engine.model, "get_gpt_cond_latents", spy)
    clips = [read_wav(path.read_bytes()) for path in ljspeech_wavs[:3]]
    audio = np.concatenate([clip for clip, _ in clips])
    rate = clips[0][1]
    latent, embedding = engine.compute_conditioning(audio, rate)
    seconds, length = seen[0]
    assert seconds == pytest.approx(len(audio) / rate, rel=1e-3)
    assert seconds > 12 and length < 0  # all of it, not XTTS's first 6 s
    first_six = engine.compute_conditioning(audio[: 6 * rate], rate)[0]
    assert not torch.allclose(latent, first_six)
    assert latent.shape == (1, 32, engine.model.gpt.model_dim) and embedding.shape == (1, 512, 1)


def test_engine_stream_yields_first_chunk_early(tiny_checkpoint):
    from ownvoice_ai.conditioning import Conditioning
    from ownvoice_ai.engines.xtts import StreamTuning, XttsEngine
    from ownvoice_ai.model_source import ModelSource

    engine = XttsEngine(
        ModelSource(tiny_checkpoint, "tiny", "demo-tiny"), tuning=StreamTuning(8, 24, 80)
    )
    engine.load()
    voice = Conditioning(
        torch.randn(1, 32, engine.model.gpt.model_dim), torch.randn(1, 512, 1), "a", "tiny"
    )
    assert engine.model.gpt.text_head is None  # freed at load: training only
    chunks = list(engine.stream("Hello there.", voice, SynthesisOptions(seed=1)))
    sizes = [len(chunk.samples) for chunk in chunks]
    assert chunks[-1].is_last and not any(chunk.is_last for chunk in chunks[:-1])
    assert len(chunks) >= 4
    assert sizes[0] < sum(sizes) / 4  # the first piece leaves after the first few tokens
    vocoder = VocoderStream(engine.model.hifigan_decoder, voice.speaker_embedding, 80)
    vocoder.plan.resize(80)
    assert sum(sizes) == vocoder.plan.n_frames * 256


@pytest.mark.parametrize("count,length_scale", [(1, 1.0), (2, 1.0), (3, 1 / 0.99), (12, 1 / 1.01)])
def test_very_short_sentences_equal_full_decode(tiny_model, count, length_scale):
    """Edge cases where torch's interpolate copies instead of interpolating."""
    torch.manual_seed(count)
    latents = torch.randn(count, tiny_model.gpt.model_dim)
    speaker = torch.randn(1, 512, 1)
    pieces, _ = _stream(tiny_model, latents, speaker, every=1, length_scale=length_scale)
    streamed = torch.cat(pieces)
    reference = full_decode(tiny_model.hifigan_decoder, latents, speaker, length_scale)
    assert streamed.shape == reference.shape
    assert (streamed - reference).abs().max() < 1e-4


def test_token_budget_follows_the_text_length():
    from ownvoice_ai.engines.xtts import StreamTuning

    text = "x" * 100
    assert StreamTuning().token_limits(text) == (None, 24 + 300)  # a rambling sentence is cut at 2x
    assert StreamTuning(speaking_rate_tokens=True).token_limits(text) == (150, 150)
    assert StreamTuning(fixed_tokens=7, speaking_rate_tokens=True).token_limits(text) == (7, 7)


def test_a_voices_prefilled_positions_give_the_whole_prefills_run(tiny_model):
    """ConditioningPrefix: the keys and values over a voice's conditioning latents are computed
    once and reused; the run equals the one that prefills everything (same codes, latents within
    float rounding). Kept per voice, the oldest dropped, and recomputed once the weights change."""
    from ownvoice_ai.engines.xtts_gpt import ConditioningPrefix, SamplingSettings

    gpt = tiny_model.gpt
    text = torch.IntTensor(tiny_model.tokenizer.encode("a voice kept.", lang="en")).unsqueeze(0)
    settings = SamplingSettings(fixed_tokens=12)
    voices = [
        torch.randn(1, 32, gpt.model_dim, generator=torch.Generator().manual_seed(s))
        for s in range(3)
    ]

    def run(cond, prefixes=None):
        generator = torch.Generator().manual_seed(3)
        steps = list(generate_latents(gpt, cond, text, settings, generator, prefixes=prefixes))
        return [code for code, _ in steps], torch.stack([latent for _, latent in steps])

    prefixes = ConditioningPrefix(gpt, voices=2)
    for cond in voices[:2]:
        codes, latents = run(cond)
        kept_codes, kept_latents = run(cond, prefixes)
        assert kept_codes == codes and len(codes) == 12
        assert (kept_latents - latents).abs().max() < 1e-5
    first = prefixes.layers(voices[0])
    assert prefixes.layers(voices[0].clone()) is first  # the same voice, not the same tensor
    assert len(prefixes._kept) == 2
    run(voices[2], prefixes)  # a third voice: the least recently used (voice 1) goes
    assert len(prefixes._kept) == 2 and prefixes.layers(voices[0]) is first
    block = gpt.gpt.h[0].attn
    original = block.c_attn
    try:
        block.c_attn = copy.deepcopy(original)  # as int8 quantisation replaces it
        assert prefixes.layers(voices[0]) is not first
    finally:
        block.c_attn = original
