"""Measurements the workers share: progress lines for the parent, memory, timing, bandwidth."""

from __future__ import annotations

import re
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def progress(units: int) -> None:
    """Tell the parent process that `units` audio tokens' worth of work is done."""
    print(f"@@progress {units}", flush=True)


def stage(text: str) -> None:
    """Tell the parent process what this worker is doing (shown next to the progress bar)."""
    print(f"@@stage {text}", flush=True)


def current_rss_bytes() -> int:
    return _status_kib("VmRSS") * 1024


def peak_rss_bytes() -> int:
    return _status_kib("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0), so the peak covers synthesis only."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kib(field_name: str) -> int:
    try:
        match = re.search(rf"^{field_name}:\s+(\d+)", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        match = None
    if match:
        return int(match.group(1))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; best effort elsewhere


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_bandwidth(
    threads: int | None, megabytes: int = 512, repeats: int = 5
) -> dict[str, float]:
    """Main-memory bandwidth in GB/s: reading a buffer far larger than the caches, and copying it.

    Reading is what a batch-1 GPT decode step does with its weights, so the read figure is the
    one the decode bound uses.
    """
    import torch

    from ownvoice_ai.optimize import configure_threads

    configure_threads(threads)
    n = megabytes * 1024 * 1024 // 4
    source = torch.ones(n, dtype=torch.float32)
    target = torch.empty_like(source)
    nbytes = source.numel() * 4
    source.sum()  # fault the pages in before timing
    target.copy_(source)
    read_s = median_time(lambda: source.sum(), repeats)
    copy_s = median_time(lambda: target.copy_(source), repeats)
    return {
        "read_gb_s": nbytes / read_s / 1e9,
        "copy_gb_s": 2 * nbytes / copy_s / 1e9,
        "buffer_mb": megabytes,
    }


@dataclass
class ParagraphRun:
    ttfa_s: float
    total_s: float
    audio_s: float
    # how long a listener who plays from the first audio on, at real time, waited in all
    stall_s: float | None = None


class Playback:
    """A listener who starts playing at the first audio and plays on at real time: the audio's
    arrival times (`arrived`) give how long playback stood still waiting for the next piece."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.first_s: float | None = None
        self.samples = 0
        self.stall_s = 0.0
        self.runs_out_s = 0.0  # when what has arrived so far will have been played

    def arrived(self, at_s: float, samples: int) -> None:
        if not samples:
            return
        if self.first_s is None:
            self.first_s = self.runs_out_s = at_s
        elif at_s > self.runs_out_s:
            self.stall_s += at_s - self.runs_out_s
            self.runs_out_s = at_s
        self.runs_out_s += samples / self.sample_rate
        self.samples += samples


def timed_stream(
    chunks: Iterator[Any], start: float, samples_of: Callable[[Any], int]
) -> tuple[float | None, int]:
    """Consume an audio stream; return (seconds from `start` to the first non-empty chunk, samples)."""
    first = None
    samples = 0
    for chunk in chunks:
        n = samples_of(chunk)
        if n and first is None:
            first = time.perf_counter() - start
        samples += n
    return first, samples
