"""Speed options (ownvoice_ai/optimize.py) and the benchmark (bench/), on the tiny random XTTS checkpoint.

Every test that changes a model loads its own copy: the session's `tiny_model` stays fp32.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.numerics import (
    audio_difference,
    compare_outputs,
    fixed_length_generate_kwargs,
    kv_cache_bytes_per_token,
    teacher_forced_outputs,
)
from ownvoice_ai import optimize
from ownvoice_ai.conditioning import Conditioning
from ownvoice_ai.engines.base import SynthesisOptions
from ownvoice_ai.engines.xtts import StreamTuning, XttsEngine
from ownvoice_ai.engines.xtts_gpt import SamplingSettings, generate_latents
from ownvoice_ai.model_source import ModelSource

AI_SERVICE_DIR = Path(__file__).resolve().parents[1]
SENTENCE = "Alice was beginning to get very tired of sitting by her sister on the bank."


def fresh_model(checkpoint: Path):
    from ownvoice_ai.checkpoints import load_checkpoint

    return load_checkpoint(checkpoint)


def voice_inputs(model, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    cond = torch.randn(1, 32, model.gpt.model_dim, generator=generator)
    speaker = torch.nn.functional.normalize(torch.randn(1, 512, 1, generator=generator), dim=1)
    text = torch.IntTensor(model.tokenizer.encode(SENTENCE.lower(), lang="en")).unsqueeze(0)
    return cond, speaker, text


def random_codes(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 1024, (1, n), generator=torch.Generator().manual_seed(seed))


def make_engine(checkpoint: Path, tokens: int, int8: bool = False) -> XttsEngine:
    engine = XttsEngine(
        ModelSource(checkpoint, "tiny-test", "test"),
        "cpu",
        StreamTuning(fixed_tokens=tokens),
        precision="int8" if int8 else "fp32",
    )
    status = engine.load()
    assert status.available, status.reason
    return engine


# --- Conv1D -> Linear and int8 ----------------------------------------------------------------


def test_conv1d_to_linear_keeps_the_outputs(tiny_checkpoint):
    model = fresh_model(tiny_checkpoint)
    cond, _, text = voice_inputs(model)
    codes = random_codes(12)
    before = teacher_forced_outputs(model, cond, text, codes)

    replaced = optimize.conv1d_to_linear(model.gpt.gpt)

    assert replaced == 4 * model.args.gpt_layers  # c_attn, attn c_proj, c_fc, mlp c_proj per block
    after = teacher_forced_outputs(model, cond, text, codes)
    torch.testing.assert_close(after[0], before[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after[1], before[1], rtol=1e-5, atol=1e-5)


def test_int8_quantises_the_per_token_path_only_and_stays_close(tiny_checkpoint):
    model = fresh_model(tiny_checkpoint)
    cond, _, text = voice_inputs(model)
    codes = random_codes(16)
    reference = teacher_forced_outputs(model, cond, text, codes)
    conditioning_encoder = model.gpt.conditioning_encoder

    result = optimize.quantize_gpt_int8(model)

    # every projection of every block, plus the audio head
    assert result.linear_layers == 4 * model.args.gpt_layers + 1
    assert optimize.is_gpt_quantized(model)
    # the audio head is one module for coqui's generate() and for our token loop
    assert model.gpt.mel_head is model.gpt.gpt_inference.lm_head[1]
    # the weights read per token shrink (int8 linear weights, fp32 norms and biases)
    assert result.bytes_per_token_after < 0.75 * result.bytes_per_token_before
    # conditioning stays fp32: cached speaker latents keep their meaning
    assert model.gpt.conditioning_encoder is conditioning_encoder
    assert all(p.dtype == torch.float32 for p in conditioning_encoder.parameters())

    numerics = compare_outputs(reference, teacher_forced_outputs(model, cond, text, codes))
    assert numerics.latent_max_abs > 0  # it really changed the arithmetic...
    assert numerics.latent_rel_l2 < 0.05  # ...by little
    assert numerics.top1_agreement >= 0.75

    with pytest.raises(ValueError, match="already quantised"):
        optimize.quantize_gpt_int8(model)


def test_int8_engine_produces_audio_of_the_same_shape_as_fp32(tiny_checkpoint):
    tokens = 20
    fp32 = make_engine(tiny_checkpoint, tokens)
    int8 = make_engine(tiny_checkpoint, tokens, int8=True)
    assert int8.status().extra["int8"] is True and optimize.is_gpt_quantized(int8.model)
    cond, speaker, _ = voice_inputs(fp32.model)
    voice = Conditioning(cond, speaker, "sha", "tiny-test")
    options = SynthesisOptions(seed=3)

    fp32_audio = np.concatenate([c.samples for c in fp32.stream(SENTENCE, voice, options)])
    int8_audio = np.concatenate([c.samples for c in int8.stream(SENTENCE, voice, options)])

    assert int8_audio.dtype == np.float32 and int8_audio.ndim == 1
    assert len(int8_audio) == len(fp32_audio) > 0
    assert np.isfinite(int8_audio).all() and np.abs(int8_audio).max() > 0


def test_gpt_bytes_per_token_counts_blocks_norm_and_head(tiny_checkpoint, tiny_model):
    gpt = tiny_model.gpt
    d, layers, n_audio = gpt.model_dim, tiny_model.args.gpt_layers, gpt.num_audio_tokens
    per_block = (
        (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * (2 * d)
    )
    expected = 4 * (
        layers * per_block + 2 * d + (d * n_audio + n_audio) + 2 * d
    )  # + ln_f, head, final norm
    assert optimize.gpt_bytes_per_token(tiny_model) == expected
    assert kv_cache_bytes_per_token(tiny_model, 100) == 2 * layers * 100 * d * 4


# --- bf16 / fp16 ------------------------------------------------------------------------------


def test_bf16_gpt_runs_our_token_loop_close_to_fp32(tiny_checkpoint):
    model = fresh_model(tiny_checkpoint)
    cond, _, text = voice_inputs(model)
    codes = random_codes(16)
    reference = teacher_forced_outputs(model, cond, text, codes)

    optimize.half_precision_gpt(model, torch.bfloat16)

    numerics = compare_outputs(reference, teacher_forced_outputs(model, cond, text, codes))
    assert numerics.latent_rel_l2 < 0.05
    settings = SamplingSettings(fixed_tokens=6)
    steps = list(
        generate_latents(model.gpt, cond, text, settings, torch.Generator().manual_seed(0))
    )
    assert len(steps) == 6
    assert all(
        latent.dtype == torch.bfloat16 and torch.isfinite(latent.float()).all()
        for _, latent in steps
    )
    assert all(p.dtype == torch.float32 for p in model.hifigan_decoder.parameters())


@pytest.mark.skipif(
    not optimize.cpu_supports_bf16(), reason="this CPU has no native bf16 (AVX512-BF16/AMX)"
)
def test_half_precision_gpt_and_vocoder_run_in_the_engine(tiny_checkpoint):
    """The GPU fp16 recipe (GPT + vocoder in half precision), exercised here with bf16 on CPU."""
    tokens = 12
    fp32 = make_engine(tiny_checkpoint, tokens)
    half = make_engine(tiny_checkpoint, tokens)
    optimize.half_precision_gpt(half.model, torch.bfloat16)
    optimize.half_precision_vocoder(half.model, torch.bfloat16)
    cond, speaker, _ = voice_inputs(fp32.model)
    voice = Conditioning(cond, speaker, "sha", "tiny-test")

    reference = np.concatenate(
        [c.samples for c in fp32.stream(SENTENCE, voice, SynthesisOptions(seed=5))]
    )
    audio = np.concatenate(
        [c.samples for c in half.stream(SENTENCE, voice, SynthesisOptions(seed=5))]
    )

    assert audio.dtype == np.float32 and len(audio) == len(reference) > 0
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0


def test_half_precision_rejects_fp16_on_cpu_and_other_dtypes(tiny_model):
    with pytest.raises(ValueError, match="bfloat16"):
        optimize.half_precision_gpt(tiny_model, torch.float16)
    with pytest.raises(ValueError, match="float16 or torch.bfloat16"):
        optimize.half_precision_gpt(tiny_model, torch.float64)


@pytest.mark.skipif(
    not optimize.cpu_supports_bf16(), reason="this CPU has no native bf16 (AVX512-BF16/AMX)"
)
def test_bf16_vocoder_keeps_shape_and_stays_close_to_fp32(tiny_checkpoint):
    from ownvoice_ai.engines.xtts_vocoder import full_decode

    model = fresh_model(tiny_checkpoint)
    _, speaker, _ = voice_inputs(model)
    latents = 0.5 * torch.randn(20, model.gpt.model_dim, generator=torch.Generator().manual_seed(0))
    reference = full_decode(model.hifigan_decoder, latents, speaker)

    optimize.half_precision_vocoder(model, torch.bfloat16)

    audio = full_decode(model.hifigan_decoder, latents, speaker)
    assert audio.dtype == torch.float32 and audio.shape == reference.shape
    assert 25 < audio_difference(reference, audio)["audio_snr_db"] < 200
    with pytest.raises(ValueError, match="already"):
        optimize.half_precision_vocoder(model, torch.bfloat16)
    with pytest.raises(ValueError, match="float16 or torch.bfloat16"):
        optimize.half_precision_vocoder(model, torch.float32)


# --- the vocoder overlapping the GPT ----------------------------------------------------------


def _sequential_pieces(latents, vocoder, first: int, every: int) -> list[torch.Tensor]:
    """The engine's own chunking loop (engines/xtts.py), the reference for the overlapped one."""
    pieces, threshold, pending = [], first, 0
    for _token, latent in latents:
        vocoder.push(latent)
        pending += 1
        if pending >= threshold:
            piece = vocoder.decode_ready()
            if piece is not None:
                pieces.append(piece)
                pending, threshold = 0, every
    pieces.append(vocoder.finish())
    return pieces


def _token_loop(model, tokens: int, seed: int = 0):
    cond, _, text = voice_inputs(model)
    settings = SamplingSettings(fixed_tokens=tokens)
    return generate_latents(model.gpt, cond, text, settings, torch.Generator().manual_seed(seed))


def _vocoder(model):
    from ownvoice_ai.engines.xtts_vocoder import VocoderStream

    _, speaker, _ = voice_inputs(model)
    return VocoderStream(model.hifigan_decoder, speaker, model.gpt.max_gen_mel_tokens + 1)


def test_overlapped_vocoder_gives_the_same_pieces_as_the_sequential_loop(tiny_model):
    tokens, first, every = 70, 8, 24
    expected = _sequential_pieces(
        _token_loop(tiny_model, tokens), _vocoder(tiny_model), first, every
    )

    got = list(
        optimize.overlapped_vocoder_chunks(
            _token_loop(tiny_model, tokens), _vocoder(tiny_model), first, every
        )
    )

    assert [is_last for _, is_last in got] == [False] * (len(expected) - 1) + [True]
    assert len(got) == len(expected) >= 4
    for (piece, _), reference in zip(got, expected, strict=True):
        assert torch.equal(piece, reference)


def test_overlapped_vocoder_stops_its_thread_when_the_consumer_stops(tiny_model):
    import threading

    chunks = optimize.overlapped_vocoder_chunks(
        _token_loop(tiny_model, 200), _vocoder(tiny_model), 8, 24
    )
    next(chunks)
    chunks.close()  # a client went away

    assert not any(t.name == "ownvoice-vocoder" and t.is_alive() for t in threading.enumerate())


def test_overlapped_vocoder_passes_a_gpt_error_on(tiny_model):
    from ownvoice_ai.engines.base import GenerationStopped

    def stopping_loop():
        yield from list(_token_loop(tiny_model, 10))
        raise GenerationStopped("cancelled")

    with pytest.raises(GenerationStopped):
        list(optimize.overlapped_vocoder_chunks(stopping_loop(), _vocoder(tiny_model), 8, 24))


def test_overlap_threads_splits_the_cores():
    assert optimize.overlap_threads(2) == 1
    assert optimize.overlap_threads(8) == 4
    assert optimize.overlap_threads(1) == 1


# --- fixed token counts and threads -----------------------------------------------------------


def test_fixed_token_forcing_gives_every_path_the_same_audio_length(tiny_checkpoint, tiny_model):
    tokens = 14
    cond, speaker, _ = voice_inputs(tiny_model)
    sampling = {"temperature": 0.75, "top_p": 0.85, "top_k": 50, "repetition_penalty": 5.0}
    force = fixed_length_generate_kwargs(tokens)

    torch.manual_seed(0)
    full = tiny_model.inference(SENTENCE, "en", cond, speaker, **sampling, **force)
    torch.manual_seed(0)
    streamed = list(tiny_model.inference_stream(SENTENCE, "en", cond, speaker, **sampling, **force))
    engine = make_engine(tiny_checkpoint, tokens)
    ours = list(
        engine.stream(SENTENCE, Conditioning(cond, speaker, "sha", "m"), SynthesisOptions(seed=0))
    )

    assert full["gpt_latents"].shape[1] == tokens
    expected = len(full["wav"])
    assert (
        expected == int(tokens * 4 * 24000 / 22050) * 256
    )  # codes -> mel frames -> 24 kHz samples
    assert sum(int(c.shape[0]) for c in streamed) == expected
    assert sum(len(c.samples) for c in ours) == expected

    with pytest.raises(ValueError):
        fixed_length_generate_kwargs(0)


def test_configure_threads_sets_torch_threads():
    previous = torch.get_num_threads()
    try:
        assert optimize.configure_threads(1) == 1 == torch.get_num_threads()
        assert optimize.configure_threads(None) == optimize.available_cores()
    finally:
        torch.set_num_threads(previous)


def test_bench_applies_the_same_openmp_settings_as_optimize():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "ownvoice_bench", AI_SERVICE_DIR / "scripts" / "bench.py"
    )
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up there
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules[spec.name]
    assert bench.OMP_ENVIRONMENT == optimize.OMP_ENVIRONMENT


def test_audio_difference_measures_snr():
    reference = torch.sin(torch.linspace(0, 100, 24000))
    assert audio_difference(reference, reference.clone())["audio_max_abs"] == 0
    noisy = reference + 0.01 * torch.randn(24000, generator=torch.Generator().manual_seed(0))
    snr = audio_difference(reference, noisy)["audio_snr_db"]
    assert 30 < snr < 40  # signal power 0.5, noise power 1e-4: about 37 dB


# --- the benchmark, end to end ----------------------------------------------------------------


def test_bench_quick_runs_every_path_end_to_end(tiny_checkpoint, tmp_path):
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [
            sys.executable,
            "scripts/bench.py",
            "--checkpoint",
            "tiny",
            "--quick",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        cwd=AI_SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=900,  # 10 paths; the service path (k) adds 1, 4 and 8 listeners
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    report = json.loads(out.read_text())

    assert report["failures"] == []
    paths = report["paths"]
    expected_paths = ["coqui-inference", "coqui-stream", "ours-fp32"]
    expected_paths += [
        "ours-fp32-overlap",
        "ours-int8-overlap",
        "ours-fast",
        "ours-batch",
        "ours-fast-batch",
        "ours-default",
    ]
    if not optimize.cpu_supports_bf16():  # the bf16 vocoder needs AVX512-BF16 or AMX
        assert "ours-fast" in report["skipped"]
        expected_paths.remove("ours-fast")
    assert list(paths) == expected_paths
    assert "GPU" in report["skipped"]["ours-fp16"]
    tokens = report["sizes"]["tokens_per_sentence"] * len(report["paragraph"])
    expected_audio = (
        int(report["sizes"]["tokens_per_sentence"] * 4 * 24000 / 22050) * 256 * 3 / 24000
    )
    for name, result in paths.items():
        assert result["audio_s"] == pytest.approx(
            expected_audio
        )  # same forced tokens on every path
        assert 0 < result["ttfa_s"] <= result["total_s"]
        assert result["rtf"] == pytest.approx(result["total_s"] / result["audio_s"])
        if name != "ours-default":  # the service as built: no separate decode timing
            assert result["decode_ms_per_token"] > 0 and result["decode_bound_ms_per_token"] > 0
        assert (
            result["peak_rss_synthesis_bytes"] > 100e6 and result["peak_rss_overall_bytes"] > 100e6
        )
        assert result["threads"] == 1
    assert tokens > 0
    # verification: recognition cost per audio second, and book rendering with it on and off
    verification = report["verification"]
    assert verification["clips"] == 2 and verification["recognition_s_per_audio_s"] > 0
    assert verification["mean_cer"] < 0.2  # real speech, heard
    # ... and the same sentences rendered through the batch path with it off and on
    verified = paths["ours-default"]["verified_rendering"]
    assert verified["sentences"] == report["sizes"]["verified_sentences"] == 2
    assert verified["audio_s"] > 0
    assert 0 < verified["x_real_time_on"] < verified["x_real_time_off"]
    assert verified["hearing_s_per_audio_s"] > 0
    cost = next(t for t in report["targets"] if t["name"].startswith("verification cost"))
    render_s = 1 / verified["x_real_time_off"]
    hearing_s = verification["verification_s_per_audio_s"]
    assert cost["value"] == pytest.approx(hearing_s / (render_s + hearing_s) * 100)
    assert cost["line"].endswith((": met", ": missed"))
    # book rendering: every batch size renders the same sentences, and the KV caches compare
    for name in ("ours-batch", "ours-fast-batch"):
        batching = paths[name]["batching"]
        sweep = batching["by_batch_size"]
        assert list(sweep) == ["1", "4", "8"]
        assert len({run["audio_s"] for run in sweep.values()}) == 1
        assert all(
            run["x_real_time"] == pytest.approx(run["audio_s"] / run["total_s"])
            for run in sweep.values()
        )
        kv = paths[name]["kv_cache"]
        assert kv["dynamic_ms_per_step"] > 0 and kv["preallocated_ms_per_step"] > 0
    # where the fast path's vocoder runs in book rendering: three ways, the same samples
    placement = paths["ours-fast-batch"]["vocoder_placement"]
    assert list(placement["runs"]) == ["inline_all_cores", "beside_half_cores", "beside_all_cores"]
    assert all(run["x_real_time"] > 0 for run in placement["runs"].values())
    assert placement["max_abs_diff_beside_vs_inline"] == 0.0
    assert "batch 8" in completed.stdout and "preallocated KV cache" in completed.stdout
    # coqui's non-streaming answer arrives all at once
    assert paths["coqui-inference"]["ttfa_s"] == paths["coqui-inference"]["total_s"]
    assert paths["coqui-inference"]["conditioning_s"] > 0
    # our fp32 path is coqui's arithmetic: same latents, same audio up to float rounding
    same = paths["ours-fp32"]["output_vs_coqui"]
    assert same["latents_max_abs_vs_coqui_second_pass"] < 1e-4
    assert same["streamed_vs_full_decode_max_abs"] < 1e-4
    assert same["streamed_samples"] == same["full_decode_samples"]
    # the overlapped vocoder is the same arithmetic, only at another time
    overlap = paths["ours-fp32-overlap"]["output_vs_sequential"]
    assert (
        overlap["max_abs_diff"] == 0
        and overlap["overlapped_samples"] == overlap["sequential_samples"]
    )
    int8 = paths["ours-int8-overlap"]
    assert int8["weight_bytes_per_token"] < int8["weight_bytes_per_token_fp32"]
    assert int8["decode_ms_per_token_by_threads"]["1"] > 0  # the thread-count sweep ran
    assert 0 < int8["vs_fp32"]["latent_rel_l2"] < 0.05
    assert report["machine"]["memory_bandwidth"]["read_gb_s"] > 0.5
    assert report["machine"]["openmp"]["OMP_WAIT_POLICY"]
    # the service with default settings: auto's choice, and listeners arriving together
    default = paths["ours-default"]
    assert default["precision"]["chosen"] in ("fp32", "int8") and default["precision"]["reason"]
    listeners = default["listeners"]
    assert list(listeners) == ["1", "4", "8"]
    assert [len(run["first_audio_s"]) for run in listeners.values()] == [1, 4, 8]
    assert all(run["aggregate_rtf"] > 0 for run in listeners.values())
    # one line per target, each ending in met or missed, after the CPU's vector extensions
    lines = [target["line"] for target in report["targets"]]
    assert len(lines) == 6 and all(line.endswith((": met", ": missed")) for line in lines)
    assert all(line in completed.stdout for line in lines)
    assert "CPU vector extensions: avx2" in completed.stdout
    assert (
        "(f) ours, int8 GPT, vocoder overlapped" in completed.stdout
        and "memory bandwidth" in completed.stdout
    )


def test_bench_rejects_a_directory_that_is_not_a_checkpoint(tmp_path):
    completed = subprocess.run(
        [sys.executable, "scripts/bench.py", "--checkpoint", str(tmp_path), "--quick"],
        cwd=AI_SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=600,  # a deadline for a loaded machine, not a measurement
    )
    assert completed.returncode != 0
    assert "not an XTTS checkpoint directory" in completed.stderr
