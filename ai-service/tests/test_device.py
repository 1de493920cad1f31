"""Device choice: cuda, then mps, then cpu; MPS kept only after a passing, faster self-test."""

from __future__ import annotations

import threading

import torch

from ownvoice_ai.engines.device import pick_device, run_self_test, verify_accelerator
from tests.conftest import FakeClock


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


def test_accelerator_kept_when_correct_and_faster():
    clock = FakeClock()
    choice = verify_accelerator("mps", clock.taking(0.01), clock.taking(0.05), 100, clock=clock)
    assert choice.device == "mps" and choice.note is None


def test_slower_accelerator_falls_back_with_reason():
    clock = FakeClock()
    choice = verify_accelerator("mps", clock.taking(0.05), clock.taking(0.01), 100, clock=clock)
    assert choice.device == "cpu" and "took 0.05 s against 0.01 s" in choice.note


def test_wrong_shape_or_error_falls_back():
    clock = FakeClock()
    assert (
        "expected 100"
        in verify_accelerator("mps", clock.taking(0, 7), clock.taking(0.05), 100, clock=clock).note
    )

    def broken() -> int:
        raise RuntimeError("MPS backend out of memory")

    assert (
        "out of memory" in verify_accelerator("mps", broken, clock.taking(0), 100, clock=clock).note
    )


def test_hanging_self_test_times_out():
    release = threading.Event()
    result = run_self_test(lambda: release.wait(10) and 100, 100, timeout_s=0.2)
    release.set()
    assert not result.ok and "did not finish" in result.reason


def test_real_self_test_on_tiny_model(tiny_checkpoint):
    """The engine's own self-test synthesis, run on the CPU as both candidates."""
    from ownvoice_ai.engines.xtts import XttsEngine
    from ownvoice_ai.model_source import ModelSource

    engine = XttsEngine(
        ModelSource(tiny_checkpoint, "tiny", "demo-tiny"),
        requested_device="cpu",
        self_test_tokens=6,
    )
    engine.load()
    expected = engine._self_test_samples()
    assert expected > 0
    assert engine._self_test("cpu") == expected
    choice = verify_accelerator(
        "cpu", lambda: engine._self_test("cpu"), lambda: engine._self_test("cpu") + 1, expected
    )
    assert choice.device == "cpu" and choice.note is None
