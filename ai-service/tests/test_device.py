"""Device choice: cuda, then mps, then cpu; MPS kept only after a passing, faster self-test."""

from __future__ import annotations

import threading
import time

import torch

from ownvoice_ai.engines.device import pick_device, run_self_test, verify_accelerator


def test_cpu_override_and_unavailable_requests_fall_back():
    assert pick_device("cpu").device == "cpu"
    if not torch.cuda.is_available():
        choice = pick_device("cuda")
        assert choice.device == "cpu" and "no CUDA device" in choice.note
    choice = pick_device("mps")
    if not (torch.backends.mps.is_available()):
        assert choice.device == "cpu" and "MPS is not available" in choice.note


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").device == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto").device == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto").device == "cpu"


def _timed(seconds: float, samples: int = 100):
    def run() -> int:
        time.sleep(seconds)
        return samples

    return run


def test_accelerator_kept_when_correct_and_faster():
    assert verify_accelerator("mps", _timed(0.0), _timed(0.05), 100).device == "mps"


def test_slower_accelerator_falls_back_with_reason():
    choice = verify_accelerator("mps", _timed(0.05), _timed(0.0), 100)
    assert choice.device == "cpu" and "against" in choice.note


def test_wrong_shape_or_error_falls_back():
    assert "expected 100" in verify_accelerator("mps", _timed(0, samples=7), _timed(0.05), 100).note

    def broken() -> int:
        raise RuntimeError("MPS backend out of memory")

    assert "out of memory" in verify_accelerator("mps", broken, _timed(0), 100).note


def test_hanging_self_test_times_out():
    release = threading.Event()
    result = run_self_test(lambda: release.wait(10) and 100, 100, timeout_s=0.2)
    release.set()
    assert not result.ok and "did not finish" in result.reason


def test_real_self_test_on_tiny_model(tiny_checkpoint):
    """The engine's own self-test synthesis, run on the CPU as both candidates."""
    from ownvoice_ai.engines.xtts import XttsEngine
    from ownvoice_ai.model_source import ModelSource

    engine = XttsEngine(ModelSource(tiny_checkpoint, "tiny", "demo-tiny"), requested_device="cpu", self_test_tokens=6)
    engine.load()
    expected = engine._self_test_samples()
    assert expected > 0
    assert engine._self_test("cpu") == expected
    choice = verify_accelerator("cpu", lambda: engine._self_test("cpu"), lambda: engine._self_test("cpu") + 1, expected)
    assert choice.device == "cpu" and choice.note is None
