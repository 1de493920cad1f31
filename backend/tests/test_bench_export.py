"""`make bench`'s export part, short: a four-minute and a one-minute book written as M4B by the
export path in child processes; its lines are printed, and the longer book's peak memory is
within 4 MB of the shorter's (the writer streams: holding the three minutes more in memory
would take 8.6 MB as s16 PCM, twice that as float)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_export  # noqa: E402 - after the path is set


def test_bench_prints_speed_and_flat_memory(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        bench_export.main(
            ["--minutes", "4", "--baseline-minutes", "1", "--rss-growth-limit-mb", "4"]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    speed = next(line for line in lines if line.startswith("m4b_speed="))
    assert float(speed.split("=")[1].split("x")[0]) > 0
    targets = [line for line in lines if line.startswith("target ")]
    assert len(targets) == 2 and all(line.endswith((": met", ": missed")) for line in targets)
    memory = next(line for line in targets if "peak RSS growth" in line)
    assert memory.endswith(": met"), memory
