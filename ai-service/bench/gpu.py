"""The GPU check: streaming and book rendering on CUDA, fp32 and fp16, with and without CUDA graphs.

    python -m bench.gpu [--checkpoint full] [--device cuda] [--out bench-results/gpu.json]

For each variant (fp32/fp16 x eager/graphs) it reports time to first audio and the real-time
factor of a streamed paragraph (the service's own `XttsEngine.stream`), the GPT decode time per
token, and book-rendering throughput (`XttsEngine.render_batch`) at several batch sizes, as
multiples of real time; then the numerical differences (graphs against the eager loop on the same
codes, fp16 against fp32 teacher-forced) and the peak GPU memory. The targets of issue 16 item 7
(first audio at most 150 ms, batched rendering at least 100x real time) end in `met` or `missed`.
Runs on a CPU too (`--device cpu --checkpoint tiny`: a smoke run; graphs need CUDA and are skipped).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .config import AI_SERVICE_DIR, CODES_PER_SECOND, LANGUAGE, PARAGRAPH, SAMPLING
from .orchestrate import ensure_checkpoint
from .reference import read_reference, reference_wav

TTFA_TARGET_S = 0.150
THROUGHPUT_TARGET_X = 100.0


def _sync(torch: Any) -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class GpuBench:
    def __init__(
        self, checkpoint: Path, device: str, tokens: int, workdir: Path, repeats: int = 3
    ) -> None:
        import torch

        from ownvoice_ai.conditioning import Conditioning
        from ownvoice_ai.engines.base import SynthesisOptions
        from ownvoice_ai.engines.xtts import StreamTuning, XttsEngine
        from ownvoice_ai.model_source import ModelSource, model_id_for

        self.torch, self.tokens, self.repeats = torch, tokens, repeats  # timed runs, median
        source = ModelSource(checkpoint, model_id_for(checkpoint, prefix="bench"), "bench")
        self.engine = XttsEngine(
            source,
            requested_device=device,
            tuning=StreamTuning(fixed_tokens=tokens),
            cuda_graphs=False,
        )
        status = self.engine.load()
        if not status.available:
            raise SystemExit(f"bench.gpu: {status.reason}")
        reference, _note = reference_wav(workdir)
        audio, rate = read_reference(str(reference))
        latent, speaker = self.engine.compute_conditioning(audio, rate)
        self.voice = Conditioning(latent, speaker, "bench", source.model_id or "bench")
        self.options = SynthesisOptions(language=LANGUAGE, seed=0, **SAMPLING)

    # --- measurements ----------------------------------------------------------------------

    def stream_paragraph(self) -> dict[str, float]:
        runs = []
        for _ in range(self.repeats):
            _sync(self.torch)
            start = time.perf_counter()
            first, samples = None, 0
            for sentence in PARAGRAPH:
                for chunk in self.engine.stream(sentence, self.voice, self.options):
                    if len(chunk.samples) and first is None:
                        first = time.perf_counter() - start
                    samples += len(chunk.samples)
            total = time.perf_counter() - start
            runs.append((first or 0.0, total, samples / self.engine.sample_rate))
        ttfa = statistics.median(r[0] for r in runs)
        total = statistics.median(r[1] for r in runs)
        return {"ttfa_s": ttfa, "total_s": total, "audio_s": runs[0][2], "rtf": total / runs[0][2]}

    def decode_ms_per_token(self, n: int = 64) -> float:
        from ownvoice_ai.engines.xtts_gpt import SamplingSettings

        gpt = self.engine.model.gpt
        tokens = self.engine.encode_text(PARAGRAPH[0], LANGUAGE)
        cond = self.voice.gpt_cond_latent.to(self.engine.device)
        settings = SamplingSettings(fixed_tokens=n, **SAMPLING)
        times = []
        for _ in range(self.repeats):
            generator = self.torch.Generator(device=self.engine.device).manual_seed(0)
            _sync(self.torch)
            start = time.perf_counter()
            for _pair in self.engine._latents(gpt, cond, tokens, settings, generator, None):
                pass
            _sync(self.torch)
            times.append(time.perf_counter() - start)
        return statistics.median(times) / n * 1000

    def render(self, batch_size: int, sentences: int) -> dict[str, float]:
        from ownvoice_ai.engines.base import RenderedChunk

        texts = [PARAGRAPH[i % len(PARAGRAPH)] for i in range(sentences)]
        self.engine.batch_size = batch_size
        list(self.engine.render_batch(texts[:batch_size], self.voice, self.options))  # warm/capture
        _sync(self.torch)
        start = time.perf_counter()
        samples = sum(
            len(event.samples)
            for event in self.engine.render_batch(texts, self.voice, self.options)
            if isinstance(event, RenderedChunk)
        )
        seconds = time.perf_counter() - start
        audio = samples / self.engine.sample_rate
        return {
            "sentences": sentences,
            "seconds": seconds,
            "audio_s": audio,
            "x_real_time": audio / seconds,
        }

    def graph_vs_eager(self, n: int = 48) -> dict[str, Any]:
        """Greedy decoding on both loops: the same codes, and how far the latents differ."""
        from ownvoice_ai.engines.xtts_gpt import SamplingSettings, generate_latents
        from ownvoice_ai.engines.xtts_static import generate_latents_static

        gpt = self.engine.model.gpt
        tokens = self.engine.encode_text(PARAGRAPH[1], LANGUAGE)
        cond = self.voice.gpt_cond_latent.to(self.engine.device)
        settings = SamplingSettings(fixed_tokens=n, do_sample=False)
        eager = list(generate_latents(gpt, cond, tokens, settings))
        if self.engine.decoders is None:
            return {"skipped": "no CUDA graphs on this device"}
        graphed = list(generate_latents_static(gpt, self.engine.decoders, cond, tokens, settings))
        same = sum(1 for a, b in zip(eager, graphed, strict=True) if a[0] == b[0])
        m = min(len(eager), len(graphed))
        diff = (
            self.torch.stack([g for _, g in graphed[:m]]).float()
            - self.torch.stack([e for _, e in eager[:m]]).float()
        )
        return {"codes_equal": same, "codes": m, "latent_max_abs": float(diff.abs().max())}

    def variant(self, graphs: bool, batch_sizes: list[int], sentences: int) -> dict[str, Any]:
        self.engine.use_cuda_graphs(graphs)
        self.stream_paragraph()  # warm up (and capture the single-row graph)
        result: dict[str, Any] = {"cuda_graphs": self.engine.decoders is not None}
        result["stream"] = self.stream_paragraph()
        result["decode_ms_per_token"] = self.decode_ms_per_token()
        result["render"] = {str(b): self.render(b, max(sentences, b)) for b in batch_sizes}
        result["graph_vs_eager"] = self.graph_vs_eager() if graphs else None
        return result


def fp16_numerics(bench: GpuBench, dtype: Any = None) -> dict[str, Any]:
    """fp16 GPT + vocoder against fp32 on the same codes (teacher-forced) and the same latents;
    the model stays in `dtype` (fp16 by default; a CPU smoke run passes bfloat16)."""
    from ownvoice_ai.optimize import half_precision_gpt, half_precision_vocoder

    from .numerics import audio_difference, compare_outputs, teacher_forced_outputs

    torch, model = bench.torch, bench.engine.model
    codes = torch.randint(0, 1024, (1, 48), generator=torch.Generator().manual_seed(1234))
    text = bench.engine.encode_text(PARAGRAPH[0], LANGUAGE)
    cond = bench.voice.gpt_cond_latent.to(bench.engine.device)
    speaker = bench.voice.speaker_embedding.to(bench.engine.device)
    from ownvoice_ai.engines.xtts_vocoder import full_decode

    reference = teacher_forced_outputs(model, cond, text, codes)
    reference_audio = full_decode(model.hifigan_decoder, reference[0][0], speaker)
    dtype = dtype or torch.float16
    half_precision_gpt(model, dtype)
    half_precision_vocoder(model, dtype)
    outputs = teacher_forced_outputs(model, cond, text, codes)
    audio = full_decode(model.hifigan_decoder, outputs[0][0].to(dtype), speaker)
    return {
        **compare_outputs(reference, outputs).as_dict(),
        **audio_difference(reference_audio, audio),
    }


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="full")
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--tokens", type=int, default=96, help="audio codes per sentence (96: 4.5 s)"
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument(
        "--sentences", type=int, default=8, help="sentences per rendering run (at least the batch)"
    )
    parser.add_argument("--out", type=Path, default=AI_SERVICE_DIR / "bench-results" / "gpu.json")
    args = parser.parse_args(argv)
    import torch

    started = time.perf_counter()
    checkpoint = ensure_checkpoint(args.checkpoint)
    with tempfile.TemporaryDirectory(prefix="ownvoice-gpu-") as tmp:
        bench = GpuBench(checkpoint, args.device, args.tokens, Path(tmp))
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "checkpoint": str(checkpoint),
        "tokens_per_sentence": args.tokens,
        "audio_s_per_token": 1 / CODES_PER_SECOND,
        "variants": {},
    }

    def record(name: str, run: Any) -> None:
        try:
            report["variants"][name] = run()
        except Exception as error:  # noqa: BLE001 - report it and go on with the other variants
            traceback.print_exc()
            report["variants"][name] = {"error": f"{type(error).__name__}: {error}"}
        print(f"bench.gpu: {name}: {json.dumps(report['variants'][name])}", flush=True)
        save()  # after every variant: a run stopped at its time limit keeps what it measured

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))

    record("fp32-eager", lambda: bench.variant(False, [1, 8], args.sentences))
    record("fp32-graphs", lambda: bench.variant(True, args.batch_sizes, args.sentences))
    if bench.engine.device == "cuda":
        record("fp16-numerics", lambda: fp16_numerics(bench))
        record("fp16-graphs", lambda: bench.variant(True, args.batch_sizes, args.sentences))
        record("fp16-eager", lambda: bench.variant(False, [8], args.sentences))
        report["peak_gpu_memory_bytes"] = torch.cuda.max_memory_allocated()
    report["targets"] = targets(report["variants"])
    report["wall_s"] = time.perf_counter() - started
    save()
    for line in report["targets"]:
        print(line)
    print(f"JSON: {args.out}  ({report['wall_s']:.0f} s)")
    return 0


def targets(variants: dict[str, Any]) -> list[str]:
    """Issue 16 item 7: the best variant's first audio and batched throughput, met or missed."""
    ran = {name: v for name, v in variants.items() if isinstance(v, dict) and "stream" in v}
    if not ran:
        return ["no variant ran: targets not measured"]
    best_ttfa = min((v["stream"]["ttfa_s"], name) for name, v in ran.items())
    best_x = max(
        (r["x_real_time"], f"{name} batch {b}")
        for name, v in ran.items()
        for b, r in v["render"].items()
    )
    return [
        f"time to first audio {best_ttfa[0] * 1000:.0f} ms ({best_ttfa[1]}) <= "
        f"{TTFA_TARGET_S * 1000:.0f} ms: {'met' if best_ttfa[0] <= TTFA_TARGET_S else 'missed'}",
        f"book rendering {best_x[0]:.1f}x real time ({best_x[1]}) >= {THROUGHPUT_TARGET_X:.0f}x: "
        f"{'met' if best_x[0] >= THROUGHPUT_TARGET_X else 'missed'}",
    ]


if __name__ == "__main__":
    sys.exit(main())
