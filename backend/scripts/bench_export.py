"""Export speed: assemble and encode a synthetic rendered book into an M4B, as export jobs do.

    make bench                                    # part of it: an hour, then ten minutes
    .venv/bin/python scripts/bench_export.py --minutes 60 --baseline-minutes 10

A book of `--minutes` of audio (60 chapters of a minute for the hour: 4-second sentences of a
voice-like synthetic signal, written as `pcm_24000` files as the audio cache holds them) is
laid out and written by the export path itself (`assemble.lay_out`, then `writers.write_m4b`:
the loudness passes, the limiter and the AAC encoder, chapter marks, tags). Each book is
written in a fresh child process, which reports its own peak RSS, so the hour's peak can be
compared with a ten-minute book's: memory must not grow with the book's length.

The speed is the audio's length over the CPU time the writing took (all threads): on a shared
machine the wall clock measures the neighbours too; both are printed. The whole pipeline runs
in one thread, so on an idle core the two agree.

Printed: `m4b_speed=XX.Xx real time` and `m4b_rss_growth=N MB`, then one `target ...: met` or
`missed` line each (the format of ai-service/bench/targets.py). Exit code 0 either way.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

BACKEND_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BACKEND_DIR))

from app.services.exports import writers  # noqa: E402 - after the path is set
from app.services.exports.assemble import (  # noqa: E402
    SAMPLE_RATE,
    Pauses,
    SentenceAudio,
    lay_out,
)
from app.services.exports.audio import BookTags  # noqa: E402

SPEED_TARGET = 50.0  # x real time, issue 13 item 8
RSS_GROWTH_LIMIT_MB = 50.0  # an hour may use at most this much more than ten minutes
SENTENCE_S = 4.0
SENTENCES_PER_PARAGRAPH = 3
VARIANTS = 8  # distinct sentence waveforms, reused (the encoder cannot tell)


def _sentence_pcm(seed: int) -> bytes:
    """A voice-like signal: a wandering pitch with harmonics under a syllable-rate envelope,
    with breath noise; s16le mono 24 kHz."""
    rng = random.Random(seed)
    count = round(SENTENCE_S * SAMPLE_RATE)
    samples = array("h")
    phase = 0.0
    for i in range(count):
        t = i / SAMPLE_RATE
        pitch = 120 + 30 * math.sin(2 * math.pi * 0.7 * t + seed)
        phase += 2 * math.pi * pitch / SAMPLE_RATE
        envelope = max(0.0, math.sin(2 * math.pi * 4.0 * t + seed)) ** 0.5
        voice = math.sin(phase) + 0.5 * math.sin(2 * phase) + 0.25 * math.sin(3 * phase)
        sample = 6000 * envelope * voice + 300 * rng.uniform(-1, 1)
        samples.append(max(-32768, min(32767, round(sample))))
    if sys.byteorder != "little":
        samples.byteswap()
    return samples.tobytes()


def _write_book(folder: Path, minutes: int) -> list:
    """`minutes` chapters of a minute each: sentence files on disk, laid out as an export does."""
    variants = [_sentence_pcm(seed) for seed in range(VARIANTS)]
    per_chapter = 13  # 52 s of speech and 8.8 s of pauses: a minute
    timelines = []
    for chapter in range(minutes):
        sentences = []
        for n in range(per_chapter):
            path = folder / f"{chapter:03d}-{n:03d}.pcm"
            path.write_bytes(variants[(chapter + n) % VARIANTS])
            paragraph = f"p{chapter}-{n // SENTENCES_PER_PARAGRAPH}"
            sentences.append(SentenceAudio(f"s{chapter}-{n}", f"Sentence {n}.", paragraph, path))
        timelines.append(lay_out(f"c{chapter}", f"Chapter {chapter + 1}", sentences, Pauses()))
    return timelines


def child(minutes: int) -> dict:
    """Write one book's M4B in this process; its audio length, time taken and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="ownvoice-bench-export-") as tmp:
        folder = Path(tmp)
        timelines = _write_book(folder, minutes)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tags = BookTags("Benchmark", "Nobody", "Synthetic", "en", "2026", "A synthetic book.")
        started, cpu = time.perf_counter(), time.process_time()
        name = writers.write_m4b(timelines, tags, folder, "bench", lambda: None)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "audio_s": sum(t.duration for t in timelines),
            "wall_s": seconds,
            "cpu_s": cpu,
            "bytes": (folder / name).stat().st_size,
            "peak_rss_mb": peak / 1024,  # ru_maxrss is in KiB on Linux
            "rss_before_write_mb": before / 1024,
        }


def _run_child(minutes: int) -> dict:
    run = subprocess.run(
        [sys.executable, __file__, "--child", str(minutes)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def _target(name: str, value: float, limit: float, at_most: bool, unit: str, note: str) -> str:
    met = value <= limit if at_most else value >= limit
    sign = "<=" if at_most else ">="
    return (
        f"target {name} {sign} {limit:g}{unit}: {value:.2f}{unit} ({note}): "
        f"{'met' if met else 'missed'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=60, help="the long book (default 60)")
    parser.add_argument("--baseline-minutes", type=int, default=10, help="the short book (10)")
    parser.add_argument(
        "--rss-growth-limit-mb", type=float, default=RSS_GROWTH_LIMIT_MB, help="(50)"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0
    short = _run_child(args.baseline_minutes)
    long = _run_child(args.minutes)
    speed = long["audio_s"] / long["cpu_s"]
    wall_speed = long["audio_s"] / long["wall_s"]
    growth = long["peak_rss_mb"] - short["peak_rss_mb"]
    print(f"export bench: {json.dumps({'short': short, 'long': long})}")
    print(f"m4b_speed={speed:.1f}x real time (per CPU second; wall clock {wall_speed:.1f}x)")
    print(f"m4b_rss_growth={growth:.1f} MB")
    hours = long["audio_s"] / 3600
    print(
        _target(
            "M4B export x real time",
            speed,
            SPEED_TARGET,
            False,
            "x",
            f"{hours:.2f} h of audio in {long['cpu_s']:.1f} s of CPU, {long['wall_s']:.1f} s "
            "wall clock, loudness passes included",
        )
    )
    print(
        _target(
            f"M4B export peak RSS growth, {args.minutes} vs {args.baseline_minutes} min",
            growth,
            args.rss_growth_limit_mb,
            True,
            " MB",
            f"{short['peak_rss_mb']:.0f} MB vs {long['peak_rss_mb']:.0f} MB",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
