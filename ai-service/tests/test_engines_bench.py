"""bench.engines end to end on the tiny checkpoint: every decode engine builds, runs, is timed
against the bound and the int8 baseline, and has its difference from fp32 measured."""

from __future__ import annotations

import json
import math

from bench import engines as bench_engines

# One of each kind of step (the spinning-thread and compiled variants only change how it runs):
# torch fp32 (the reference) and int8 (the baseline), the ONNX export on ONNX Runtime in fp32,
# dynamic int8 and MatMulNBits, on OpenVINO int8 weight-only, and torch's int8 weight-only.
NAMES = ["torch-fp32", "torch-int8", "torch-woq8", "ort-fp32", "ort-int8", "ort-q4", "ov-woq8"]


def test_engines_quick_run_measures_speed_and_tolerance(tiny_checkpoint, tmp_path):
    names = NAMES
    out = tmp_path / "engines.json"
    argv = ["--checkpoint", str(tiny_checkpoint), "--quick", "--tokens", "4", "--threads", "1"]
    assert bench_engines.main([*argv, "--engines", *names, "--out", str(out)]) == 0

    report = json.loads(out.read_text())
    assert report["failures"] == {}
    assert set(report["engines"]) == set(names)
    assert report["machine"]["memory_bandwidth"]["read_gb_s"] > 0
    baseline = report["engines"]["torch-int8"]
    assert baseline["vs_baseline"] == 1.0
    for name, engine in report["engines"].items():
        assert engine["decode_ms_per_token"] > 0, name
        assert engine["bound_ms_per_token"] > 0, name
        assert engine["vs_int8_bound"] > 0, name
        figures = engine["vs_fp32"]
        assert set(figures) == {
            "latent_max_abs",
            "latent_rel_l2",
            "logits_max_abs",
            "top1_agreement",
        }
        assert all(math.isfinite(v) for v in figures.values()), name
        assert 0.0 <= figures["top1_agreement"] <= 1.0
    # the reference is itself; the export is the same arithmetic; int8 stays close
    assert report["engines"]["torch-fp32"]["vs_fp32"]["latent_max_abs"] == 0.0
    assert report["fp32_stepwise_vs_parallel_pass"]["latent_rel_l2"] < 1e-5
    assert report["engines"]["torch-woq8"]["vs_fp32"]["latent_rel_l2"] < 0.05
    assert report["engines"]["ort-fp32"]["vs_fp32"]["latent_rel_l2"] < 1e-5
    assert report["engines"]["ort-int8"]["vs_fp32"]["latent_rel_l2"] < 0.05
    assert report["engines"]["ov-woq8"]["vs_fp32"]["latent_rel_l2"] < 0.05
