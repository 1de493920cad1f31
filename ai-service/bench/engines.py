"""GPT decode step on several CPU inference engines, in one run: speed against the memory
bandwidth bound and against today's torch int8 path, and the numerical difference from fp32.

    python -m bench.engines [--checkpoint full|tiny|DIR] [--tokens N] [--quick] [--threads N]

One process, one checkpoint, one prefix (conditioning from the reference clip + the paragraph's
first sentence). For each engine (bench/decode_engines.py):

- speed: the prefix runs (untimed), then N decode steps with the service's sampling (stop token
  masked, so every engine makes exactly N steps); ms per step, median over repeats. The engines
  are timed round-robin, repeat by repeat, so load from other work on the machine spreads over
  all of them. The baseline is also timed through `generate_latents` itself, as the main bench
  does (prefill included), as a cross-check.
- bound: (the engine's weight bytes + the fp32 KV cache read at mid-sentence) / read bandwidth
  (probes.measure_bandwidth), the main bench's formula; "int8 bound" uses the baseline's weight
  bytes for every engine, the figure the issue's goal (decode within 1.5x of it) refers to.
- numerics: teacher-forced through the engine's own start/step calls on the same random codes,
  against the fp32 torch loop on the same codes (numerics.compare_outputs: latent max abs and
  relative L2, logits max abs, top-1 agreement).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import AI_SERVICE_DIR, LANGUAGE, PARAGRAPH, SAMPLING

DEFAULT_OUT = AI_SERVICE_DIR / "bench-results" / "engines.json"
ENGINES = {
    "torch-fp32": "torch eager fp32 (today's loop, fp32)",
    "torch-int8": "torch dynamic int8 (today's fast CPU path: the baseline)",
    "ort-fp32": "ONNX Runtime fp32",
    "ort-int8": "ONNX Runtime dynamic int8 (MatMulInteger, per-channel)",
    "ort-q8": "ONNX Runtime MatMulNBits 8-bit, block 32, int8 compute",
    "ort-q4": "ONNX Runtime MatMulNBits 4-bit, block 32, int8 compute",
    "ort-int8-spin": "ort-int8 with ONNX Runtime's pool threads spinning (its default)",
    "ort-q4-spin": "ort-q4 with ONNX Runtime's pool threads spinning (its default)",
    "ov-fp32": "OpenVINO fp32",
    "ov-woq8": "OpenVINO int8 weight-only (per-channel, DequantizeLinear)",
    "torch-woq8": "torch int8 weight-only (_weight_int8pack_mm), eager",
    "torch-woq8-compiled": "torch int8 weight-only, torch.compile (inductor CPU)",
}
BASELINE = "torch-int8"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="full", help="tiny, full or a checkpoint dir")
    parser.add_argument("--tokens", type=int, default=None, help="decode steps timed (default 48)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per engine (3)")
    parser.add_argument("--quick", action="store_true", help="few tokens, one repeat")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: cores)")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), help="only these")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


class Run:
    """What every engine shares: the model, the prefix, the codes, the fp32 reference."""

    def __init__(self, args: argparse.Namespace, checkpoint: Path, workdir: Path) -> None:
        import torch

        from ownvoice_ai.engines.xtts_gpt import SamplingSettings, prefix_embeddings
        from ownvoice_ai.optimize import configure_threads

        from .paths.ours import OursPath
        from .reference import reference_wav

        self.torch = torch
        self.threads = configure_threads(args.threads)
        self.tokens = args.tokens or (8 if args.quick else 48)
        self.repeats = args.repeats or (1 if args.quick else 3)
        self.numerics_tokens = 8 if args.quick else 24
        self.workdir = workdir
        reference, self.reference_note = reference_wav(workdir)
        path = OursPath(_worker_spec(checkpoint, reference, self.threads, self.tokens))
        self.engine = path.engine  # XttsEngine, fp32
        self.model = path.engine.model
        self.gpt = self.model.gpt
        text = self.engine.encode_text(PARAGRAPH[0], LANGUAGE)
        with torch.inference_mode():
            self.prefix = prefix_embeddings(self.gpt, path.voice.gpt_cond_latent, text)
        self.text_tokens, self.cond_latent = text, path.voice.gpt_cond_latent
        # the KV buffers hold what a run writes (the prefix and the steps), not the model's limit
        self.capacity = self.prefix.shape[1] + max(self.tokens, self.numerics_tokens) + 8
        generator = torch.Generator().manual_seed(1234)
        self.codes = torch.randint(0, 1024, (self.numerics_tokens,), generator=generator)
        self.settings = SamplingSettings(fixed_tokens=self.tokens, **SAMPLING)

    def embed(self, code: int, step: int):
        """The next step's input, as the token loop makes it (code embedding + its position)."""
        with self.torch.inference_mode():
            ids = self.torch.tensor([[code]])
            return self.gpt.mel_embedding(ids) + self.gpt.mel_pos_embedding.get_fixed_embedding(
                step + 1, "cpu"
            )

    def forced(self, engine: Any):
        """Latents [1, n, d] and logits [1, n, V] of `engine` on the fixed codes (teacher forced)."""
        latents, logits = [], []
        latent, logit = engine.start(self.prefix)
        for step, code in enumerate(self.codes.tolist()):
            latents.append(latent)
            logits.append(logit)
            if step + 1 < len(self.codes):
                latent, logit = engine.step(self.embed(code, step))
        cat = self.torch.cat
        return cat(latents).unsqueeze(0).float(), cat(logits).unsqueeze(0).float()

    def decode(self, engine: Any, seed: int = 0, steps: int | None = None) -> float:
        """Seconds per decode step over `steps` (default `tokens`) sampled steps, the prefix
        untimed."""
        steps = steps or self.tokens
        from ownvoice_ai.engines.xtts_gpt import _logits_processors, _pick

        torch = self.torch
        processors = _logits_processors(self.settings)
        generator = torch.Generator().manual_seed(seed)
        history = torch.tensor([[self.gpt.start_audio_token]])
        _, logits = engine.start(self.prefix)
        start = time.perf_counter()
        for step in range(steps):
            with torch.inference_mode():
                logits = logits.clone()
                logits[:, self.gpt.stop_audio_token] = -float("inf")
                token = _pick(processors(history, logits), True, generator)
                history = torch.cat([history, torch.tensor([[token]])], dim=1)
            if step + 1 < steps:
                _, logits = engine.step(self.embed(token, step))
        return (time.perf_counter() - start) / max(1, steps - 1)

    def kv_bytes(self) -> int:
        from .numerics import kv_cache_bytes_per_token

        position = self.prefix.shape[1] + self.tokens // 2  # mid-sentence, as the main bench
        return kv_cache_bytes_per_token(self.model, position)


def _worker_spec(checkpoint: Path, reference: Path, threads: int, tokens: int):
    from .config import Sizes, WorkerSpec

    sizes = Sizes(tokens, 1, tokens, tokens)
    return WorkerSpec("ours-fp32", str(checkpoint), "cpu", threads, sizes, str(reference), "")


# ONNX engines: (runtime, weights); the weights are made once per kind, shared by the rows.
ONNX_ENGINES = {
    "ort-fp32": ("ort", "fp32"),
    "ort-int8": ("ort", "int8"),
    "ort-int8-spin": ("ort-spin", "int8"),
    "ort-q8": ("ort", "q8"),
    "ort-q4": ("ort", "q4"),
    "ort-q4-spin": ("ort-spin", "q4"),
    "ov-fp32": ("ov", "fp32"),
    "ov-woq8": ("ov", "woq8"),
}


def build_engines(run: Run, names: list[str], failures: dict[str, str]) -> dict[str, Any]:
    """Every engine asked for, built from the fp32 weights (the baseline on a copy of the GPT)."""
    from ownvoice_ai.optimize import gpt_bytes_per_token

    from . import decode_engines as de

    built: dict[str, Any] = {}
    run.setup_s = {}

    def attempt(name: str, make: Callable[[], Any]) -> None:
        if name not in names:
            return
        print(f"engines: building {name} ...", flush=True)
        started = time.perf_counter()
        try:
            built[name] = make()
        except Exception as error:  # one engine failing must not stop the others
            traceback.print_exc()
            failures[name] = f"{type(error).__name__}: {error}"
        run.setup_s[name] = time.perf_counter() - started

    fp32_bytes = gpt_bytes_per_token(run.model)
    attempt("torch-fp32", lambda: de.HfEngine("torch-fp32", run.gpt, fp32_bytes, run.capacity))
    attempt("torch-int8", lambda: _baseline(run))
    onnx_files = OnnxFiles(run)
    for name, (runtime, weights) in ONNX_ENGINES.items():
        attempt(name, lambda n=name, r=runtime, w=weights: onnx_files.engine(n, r, w))
    woq8 = {}

    def eager_woq8() -> Any:
        if "engine" not in woq8:
            woq8["engine"] = de.TorchStepEngine("torch-woq8", run.gpt, run.capacity)
        return woq8["engine"]

    attempt("torch-woq8", eager_woq8)
    attempt(
        "torch-woq8-compiled",
        lambda: _compiled(eager_woq8().compiled_copy("torch-woq8-compiled")),
    )
    return built


class OnnxFiles:
    """The exported step and its quantised forms, each made on first use."""

    def __init__(self, run: Run) -> None:
        from . import decode_engines as de

        self.run, self.de = run, de
        self.paths: dict[str, Path] = {}
        self.makers: dict[str, Callable[[Path, Path], Path]] = {
            "int8": de.quantize_onnx_int8,
            "q8": lambda source, target: de.quantize_onnx_nbits(source, target, 8),
            "q4": lambda source, target: de.quantize_onnx_nbits(source, target, 4),
            "woq8": de.weight_only_int8_onnx,
        }

    def path(self, weights: str) -> Path:
        if weights not in self.paths:
            target = self.run.workdir / "onnx" / weights / "step.onnx"
            target.parent.mkdir(parents=True, exist_ok=True)
            if weights == "fp32":
                started = time.perf_counter()
                self.de.export_onnx(self.run.gpt, target)
                self.run.setup_s["onnx-export"] = time.perf_counter() - started
            else:
                self.makers[weights](self.path("fp32"), target)
            self.paths[weights] = target
        return self.paths[weights]

    def engine(self, name: str, runtime: str, weights: str) -> Any:
        path, threads, capacity = self.path(weights), self.run.threads, self.run.capacity
        if runtime == "ov":
            return self.de.OvEngine(name, path, threads, capacity)
        return self.de.OrtEngine(name, path, threads, capacity, spinning=runtime == "ort-spin")


def _baseline(run: Run) -> Any:
    """Today's fast CPU path: `quantize_gpt_int8` on a copy of the GPT (fp32 stays for the rest)."""
    from types import SimpleNamespace

    from ownvoice_ai.optimize import gpt_bytes_per_token, quantize_gpt_int8

    from .decode_engines import HfEngine

    copy_model = SimpleNamespace(gpt=copy.deepcopy(run.gpt))
    copy_model.parameters = copy_model.gpt.parameters  # optimize._model_device reads it
    result = quantize_gpt_int8(copy_model)
    run.baseline_gpt = copy_model.gpt
    run.baseline_layers = result.linear_layers
    return HfEngine("torch-int8", copy_model.gpt, gpt_bytes_per_token(copy_model), run.capacity)


def _compiled(engine: Any) -> Any:
    """Compile now (the prefix shape and the step shape), so compilation is not timed."""
    import torch

    prefix = torch.zeros(1, 5, engine.dim)
    engine.start(prefix)
    for _ in range(2):
        engine.step(torch.zeros(1, 1, engine.dim))
    return engine


def baseline_generate_latents_ms(run: Run) -> float:
    """The baseline as the main bench times it: generate_latents, prefill included, per token."""
    from ownvoice_ai.engines.xtts_gpt import generate_latents

    gpt = run.baseline_gpt
    generator = run.torch.Generator().manual_seed(0)
    start = time.perf_counter()
    list(generate_latents(gpt, run.cond_latent, run.text_tokens, run.settings, generator))
    return (time.perf_counter() - start) / run.tokens * 1000


def measure(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    from .orchestrate import ensure_checkpoint
    from .probes import measure_bandwidth

    checkpoint = ensure_checkpoint(args.checkpoint)
    names = [n for n in ENGINES if n in (args.engines or list(ENGINES))]
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="ownvoice-engines-") as tmp:
        run = Run(args, checkpoint, Path(tmp))
        print(f"engines: {run.threads} thread(s); measuring memory bandwidth ...", flush=True)
        bandwidth = measure_bandwidth(run.threads)
        engines = build_engines(run, names, failures)
        numerics, fp32_stepwise_vs_parallel = measure_numerics(run, engines, failures)
        engines = {n: e for n, e in engines.items() if n not in failures}
        times = time_engines(run, engines)
        cross_check = baseline_generate_latents_ms(run) if BASELINE in engines else None
        rows = engine_rows(run, engines, times, numerics, bandwidth["read_gb_s"])
    return {
        "machine": machine_info(run.threads, bandwidth, load_before),
        "versions": versions(),
        "checkpoint": str(checkpoint),
        "command": " ".join(["python -m bench.engines", *argv]),
        "tokens": run.tokens,
        "repeats": run.repeats,
        "numerics_tokens": run.numerics_tokens,
        "prefix_positions": int(run.prefix.shape[1]),
        "kv_cache_bytes_per_token": run.kv_bytes(),
        "baseline": BASELINE,
        "baseline_generate_latents_ms_per_token": cross_check,
        "fp32_stepwise_vs_parallel_pass": fp32_stepwise_vs_parallel,
        "engines": rows,
        "failures": failures,
        "setup_s": run.setup_s,  # building each engine (export, quantisation, compilation)
        "wall_s": time.perf_counter() - started,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def measure_numerics(
    run: Run, engines: dict[str, Any], failures: dict[str, str]
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Each engine against the fp32 torch loop on the same codes (teacher forced); and that
    loop against coqui's parallel pass over the same codes (they should agree to rounding)."""
    from .numerics import compare_outputs, teacher_forced_outputs

    print("engines: numerics (teacher forced on the same codes) ...", flush=True)
    reference = run.forced(engines.get("torch-fp32") or _reference_engine(run))
    with run.torch.inference_mode():
        parallel = teacher_forced_outputs(
            run.model, run.cond_latent, run.text_tokens, run.codes.unsqueeze(0)
        )
    numerics = {}
    for name, engine in engines.items():
        try:
            numerics[name] = compare_outputs(reference, run.forced(engine)).as_dict()
        except Exception as error:
            traceback.print_exc()
            failures[name] = f"numerics: {type(error).__name__}: {error}"
    return numerics, compare_outputs(parallel, reference).as_dict()


def time_engines(run: Run, engines: dict[str, Any]) -> dict[str, list[float]]:
    """Seconds per decode step, per engine and repeat; round-robin, so that load from other work
    on the machine falls on every engine alike."""
    print(f"engines: timing {run.tokens} decode steps x {run.repeats} ...", flush=True)
    for engine in engines.values():  # warm-up: first calls allocate and pick kernels
        run.decode(engine, steps=3)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for repeat in range(run.repeats):
        for name, engine in engines.items():
            times[name].append(run.decode(engine, seed=repeat))
    return times


def engine_rows(
    run: Run,
    engines: dict[str, Any],
    times: dict[str, list[float]],
    numerics: dict[str, dict[str, float]],
    read_gb_s: float,
) -> dict[str, dict[str, Any]]:
    """Per engine: ms/token, its own bound and the int8 baseline's bound, the ratios, numerics."""
    kv = run.kv_bytes()
    read = read_gb_s * 1e9
    baseline_ms = statistics.median(times[BASELINE]) * 1000 if BASELINE in times else None
    int8_bound = (
        (engines[BASELINE].weight_bytes + kv) / read * 1000 if BASELINE in engines else None
    )
    rows = {}
    for name, engine in engines.items():
        ms = statistics.median(times[name]) * 1000
        bound = (engine.weight_bytes + kv) / read * 1000
        rows[name] = {
            "description": ENGINES[name],
            "decode_ms_per_token": ms,
            "decode_ms_runs": [t * 1000 for t in times[name]],
            "weight_bytes_per_token": engine.weight_bytes,
            "bound_ms_per_token": bound,
            "vs_own_bound": ms / bound,
            "int8_bound_ms_per_token": int8_bound,
            "vs_int8_bound": ms / int8_bound if int8_bound else None,
            "vs_baseline": ms / baseline_ms if baseline_ms else None,
            "speedup_over_baseline": baseline_ms / ms if baseline_ms else None,
            "vs_fp32": numerics.get(name),
            "setup_s": run.setup_s.get(name),
        }
    return rows


def machine_info(threads: int, bandwidth: dict[str, float], load_before: float) -> dict[str, Any]:
    from .targets import cpu_extensions

    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_extensions": cpu_extensions(),
        "cores": os.cpu_count(),
        "threads": threads,
        "memory_bandwidth": bandwidth,
        "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]},
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def versions() -> dict[str, str | None]:
    import importlib.metadata

    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("torch", "onnxruntime", "onnx", "openvino"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def _reference_engine(run: Run) -> Any:
    from ownvoice_ai.optimize import gpt_bytes_per_token

    from .decode_engines import HfEngine

    return HfEngine("torch-fp32", run.gpt, gpt_bytes_per_token(run.model), run.capacity)


def format_table(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        f"GPT decode, {report['tokens']} steps x {report['repeats']}, {machine['threads']} thread(s), "
        f"read bandwidth {machine['memory_bandwidth']['read_gb_s']:.1f} GB/s, "
        f"CPU {', '.join(machine['cpu_extensions']) or '?'}",
        f"{'engine':<22}{'ms/tok':>8}{'bound':>8}{'x bound':>8}{'x int8 bnd':>11}"
        f"{'x int8':>8}{'lat max':>9}{'lat relL2':>10}{'logit max':>10}{'top1':>6}",
    ]
    for name, e in report["engines"].items():
        n = e["vs_fp32"] or {}
        lines.append(
            f"{name:<22}{e['decode_ms_per_token']:>8.1f}{e['bound_ms_per_token']:>8.1f}"
            f"{e['vs_own_bound']:>8.2f}{_fmt(e['vs_int8_bound'], '.2f', 11)}"
            f"{_fmt(e['vs_baseline'], '.2f', 8)}{_fmt(n.get('latent_max_abs'), '.2e', 9)}"
            f"{_fmt(n.get('latent_rel_l2'), '.2e', 10)}{_fmt(n.get('logits_max_abs'), '.2e', 10)}"
            f"{_fmt(n.get('top1_agreement'), '.2f', 6)}"
        )
    for name, why in report["failures"].items():
        lines.append(f"{name}: FAILED {why}")
    check = report.get("baseline_generate_latents_ms_per_token")
    if check:
        lines.append(f"baseline through generate_latents (prefill included): {check:.1f} ms/token")
    return "\n".join(lines)


def _fmt(value: float | None, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def main(argv: list[str] | None = None) -> int:
    from .cli import set_omp_environment

    set_omp_environment()
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    report = measure(args, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(format_table(report))
    print(f"\nJSON: {args.out}  ({report['wall_s']:.0f} s)")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
