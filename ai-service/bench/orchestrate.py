"""The parent process: the checkpoint, the bandwidth, one worker process per path, the summary."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import targets
from .config import (
    AI_SERVICE_DIR,
    BASELINES,
    BATCH_SENTENCES,
    BATCH_SIZES,
    CHECKPOINT_VARIANTS,
    DEFAULT_PATHS,
    KV_STEPS,
    PARAGRAPH,
    PATHS,
    SAMPLING,
    Sizes,
    WorkerSpec,
)
from .paths.base import device_of
from .paths.service import LISTENER_COUNTS, READER_SENTENCES
from .probes import measure_bandwidth
from .reference import reference_wav
from .verification import measure_verification


def ensure_checkpoint(name: str) -> Path:
    """A checkpoint directory: tiny/full are built by make_checkpoint.py when missing."""
    if name not in CHECKPOINT_VARIANTS:
        path = Path(name).expanduser().resolve()
        if not (path / "model.pth").is_file():
            raise SystemExit(f"bench: {path} is not an XTTS checkpoint directory (no model.pth)")
        return path
    path = AI_SERVICE_DIR / "checkpoints" / name
    if not all((path / f).is_file() for f in ("config.json", "model.pth", "vocab.json")):
        print(f"bench: building the {name} random XTTS checkpoint in {path} (once) ...", flush=True)
        subprocess.run(
            [sys.executable, str(AI_SERVICE_DIR / "scripts" / "make_checkpoint.py"), name],
            check=True,
        )
    return path


def work_units(path: str, sizes: Sizes, cores: int) -> int:
    """Audio tokens a worker reports, for the progress bar."""
    units = sizes.repeats * sizes.tokens_per_sentence * len(PARAGRAPH) + 3 * sizes.decode_tokens
    if path == "ours-fp32":
        units += sizes.numerics_tokens
    if path == "ours-fp32-overlap":
        units += 2 * sizes.numerics_tokens
    if path in ("ours-int8", "ours-int8-overlap", "ours-fast", "ours-fp16", "ours-fast-batch"):
        units += 2 * sizes.numerics_tokens
    if path in ("ours-batch", "ours-fast-batch"):
        units += len(BATCH_SIZES) * BATCH_SENTENCES * sizes.tokens_per_sentence + 4 * KV_STEPS
    if path == "ours-fast-batch":  # where the vocoder runs: three more renders
        units += 3 * BATCH_SENTENCES * sizes.tokens_per_sentence
    if path in ("ours-int8", "ours-int8-overlap"):
        units += 3 * sizes.decode_tokens * (len({1, cores}) - 1)
    if path == "ours-default":  # no decode timing; the listeners and verified rendering instead
        units += sum(LISTENER_COUNTS) * sizes.tokens_per_sentence - 3 * sizes.decode_tokens
        units += 2 * sizes.verified_sentences * sizes.tokens_per_sentence
        units += sizes.repeats * len(PARAGRAPH) * sizes.tokens_per_sentence  # sentence by sentence
        units += READER_SENTENCES * sizes.tokens_per_sentence
    return units


@dataclass
class WorkerFailure:
    path: str
    message: str


@dataclass
class Bench:
    args: argparse.Namespace
    sizes: Sizes
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[WorkerFailure] = field(default_factory=list)

    def run_path(
        self, path: str, checkpoint: Path, reference: Path, workdir: Path, bar: Any
    ) -> None:
        result_file = workdir / f"{path}.json"
        spec = WorkerSpec(
            path,
            str(checkpoint),
            self.args.device,
            self.args.threads,
            self.sizes,
            str(reference),
            str(result_file),
        )
        log_file = workdir / f"{path}.log"
        bar.set_description(PATHS[path])
        with log_file.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench", "--worker", spec.to_json()],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=worker_environment(),
            )
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("@@progress "):
                    bar.update(int(line.split()[1]))
                elif line.startswith("@@stage "):
                    bar.set_postfix_str(line[len("@@stage ") :].strip())
            process.wait()
        if process.returncode == 0 and result_file.is_file():
            self.results[path] = json.loads(result_file.read_text())
        else:
            tail = log_file.read_text().strip().splitlines()[-3:]
            self.failures.append(
                WorkerFailure(path, " | ".join(tail) or f"exit status {process.returncode}")
            )


def worker_environment() -> dict[str, str]:
    """The workers' environment: this one, quieter, with `bench` importable from anywhere."""
    path = os.pathsep.join(filter(None, [str(AI_SERVICE_DIR), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "TRANSFORMERS_VERBOSITY": "error",
        "PYTHONWARNINGS": "ignore",
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    checkpoint = ensure_checkpoint(args.checkpoint)  # a wrong path fails before torch loads

    from tqdm import tqdm

    from ownvoice_ai.optimize import available_cores, cpu_supports_bf16

    sizes = Sizes.for_run(args.quick, args.tokens, args.repeats)
    paths = [p for p in PATHS if p in (args.paths or DEFAULT_PATHS)]
    skipped = {}
    if device_of(args.device) != "cpu":
        cpu_only = ("ours-int8", "ours-int8-overlap", "ours-fast", "ours-fast-batch")
        skipped.update({p: "int8 dynamic quantisation is a CPU option" for p in cpu_only})
    else:
        skipped["ours-fp16"] = "a GPU option (fp16 matrix products are slow on CPUs)"
        if not cpu_supports_bf16():
            skipped["ours-fast"] = "this CPU has no native bf16 (AVX512-BF16 or AMX)"
    skipped = {p: why for p, why in skipped.items() if p in paths}
    paths = [p for p in paths if p not in skipped]
    bench = Bench(args, sizes)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]  # other work on the machine skews every timing
    with tempfile.TemporaryDirectory(prefix="ownvoice-bench-") as tmp:
        workdir = Path(tmp)
        reference, reference_note = reference_wav(workdir)
        print("bench: measuring memory bandwidth ...", flush=True)
        bandwidth = measure_bandwidth(args.threads)
        total = sum(work_units(p, sizes, available_cores()) for p in paths)
        with tqdm(total=total, unit="tok", file=sys.stderr, dynamic_ncols=True) as bar:
            for path in paths:
                bench.run_path(path, checkpoint, reference, workdir, bar)
        print("bench: measuring verification (speech recognition) ...", flush=True)
        threads = args.threads or available_cores()
        verification = measure_verification(threads, clips=2 if args.quick else 8)
    report = summarise(
        bench, bandwidth, checkpoint, reference_note, verification, time.perf_counter() - started
    )
    report["verification"] = verification
    report["skipped"] = skipped
    report["machine"]["load_average_1min"] = {"start": load_before, "end": os.getloadavg()[0]}
    return report


def summarise(
    bench: Bench,
    bandwidth: dict[str, float],
    checkpoint: Path,
    reference: str,
    verification: dict[str, Any] | None,
    wall_s: float,
):
    results = bench.results
    for result in results.values():
        weights = result.get("weight_bytes_per_token")
        if weights:
            moved = weights + result.get("kv_cache_bytes_per_token", 0)
            result["decode_bound_ms_per_token"] = moved / (bandwidth["read_gb_s"] * 1e9) * 1000
    if "coqui-inference" in results and "ours-fp32" in results:
        # coqui's GPT reads the same fp32 weights as ours: the same bound.
        for name in BASELINES:
            if name in results:
                results[name]["decode_bound_ms_per_token"] = results["ours-fp32"][
                    "decode_bound_ms_per_token"
                ]
    for result in results.values():
        result["throughput_vs"] = {
            base: results[base]["total_s"] / result["total_s"]
            for base in BASELINES
            if base in results
        }
    extensions = targets.cpu_extensions()
    return {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_extensions": extensions,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "memory_bandwidth": bandwidth,
        },
        "checkpoint": str(checkpoint),
        "reference": reference,
        "paragraph": PARAGRAPH,
        "sizes": asdict(bench.sizes),
        "sampling": SAMPLING,
        "paths": results,
        "failures": [asdict(f) for f in bench.failures],
        "targets": targets.summary(results, extensions, verification),
        "wall_s": wall_s,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
