"""One path in its own process: load, warm up, speak the paragraph, time the decode, report."""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import asdict
from typing import Any

from .config import PATHS, WorkerSpec
from .paths import WORKERS
from .paths.base import device_of
from .probes import current_rss_bytes, peak_rss_bytes, reset_peak_rss, stage


def run_worker(spec: WorkerSpec) -> dict[str, Any]:
    import torch

    from ownvoice_ai.optimize import configure_threads, release_freed_memory

    configure_threads(spec.threads)
    stage("loading")
    start = time.perf_counter()
    path = WORKERS[spec.path](spec)
    load_s = time.perf_counter() - start
    release_freed_memory()  # every path alike: RSS then reflects what the model holds
    threads = torch.get_num_threads()  # an overlapped path splits the cores
    rss_after_load = current_rss_bytes()
    stage("warming up")
    path.warm_up()
    peak_reset = reset_peak_rss()
    stage("speaking the paragraph")
    runs = [path.paragraph() for _ in range(spec.sizes.repeats)]
    stage("timing the GPT decode")
    decode_ms = path.decode_ms_per_token()
    peak_synthesis = peak_rss_bytes() if peak_reset else None
    stage("numerics")
    result = {
        "path": spec.path,
        "label": PATHS[spec.path],
        "threads": threads,
        "device": device_of(spec.device),
        "torch": torch.__version__,
        "load_s": load_s,
        "runs": [asdict(run) for run in runs],
        "ttfa_s": statistics.median(run.ttfa_s for run in runs),
        "total_s": statistics.median(run.total_s for run in runs),
        "best_total_s": min(run.total_s for run in runs),
        "audio_s": runs[0].audio_s,
        "decode_ms_per_token": decode_ms,
        "rss_after_load_bytes": rss_after_load,
        "peak_rss_synthesis_bytes": peak_synthesis,
        "peak_rss_overall_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **path.extra(),
    }
    result["rtf"] = result["total_s"] / result["audio_s"] if result["audio_s"] else None
    return result
