"""Choosing the accelerator: cuda, then mps, then cpu, overridable; MPS is verified before use.

Apple's MPS backend is reported to hang or run slower than the CPU for XTTS, so an MPS choice is
only kept after a short synthesis on it returns the right shape, in time, and faster than the same
synthesis on the CPU. Otherwise the service falls back to the CPU and says why in /ready.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DeviceChoice:
    device: str
    note: str | None = None  # why the device differs from what was asked, if it does


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def pick_device(requested: str) -> DeviceChoice:
    if requested == "auto":
        if torch.cuda.is_available():
            return DeviceChoice("cuda")
        if mps_available():
            return DeviceChoice("mps")
        return DeviceChoice("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        return DeviceChoice(
            "cpu", "OWNVOICE_DEVICE=cuda but no CUDA device is available; using the CPU"
        )
    if requested == "mps" and not mps_available():
        return DeviceChoice("cpu", "OWNVOICE_DEVICE=mps but MPS is not available; using the CPU")
    if requested == "mps":
        # Some ops XTTS uses have no MPS kernel; let them run on the CPU instead of failing.
        os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    return DeviceChoice(requested)


@dataclass(frozen=True)
class SelfTestResult:
    ok: bool
    seconds: float | None
    reason: str | None = None


def run_self_test(
    synthesize: Callable[[], int],
    expected_samples: int,
    timeout_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> SelfTestResult:
    """Run `synthesize` (returns the number of samples produced) in a thread, with a time limit.

    A hung accelerator call cannot be interrupted; the thread is left behind as a daemon and the
    device is reported unusable. `clock` times the run (tests pass their own).
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        started = clock()
        try:
            outcome["samples"] = synthesize()
        except Exception as error:  # noqa: BLE001 - any failure means "do not use this device"
            outcome["error"] = f"{type(error).__name__}: {error}"
        outcome["seconds"] = clock() - started

    worker = threading.Thread(target=target, name="device-self-test", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        return SelfTestResult(False, None, f"the self-test did not finish within {timeout_s:.0f} s")
    if "error" in outcome:
        return SelfTestResult(False, None, f"the self-test failed ({outcome['error']})")
    seconds = float(outcome["seconds"])  # type: ignore[arg-type]
    if outcome.get("samples") != expected_samples:
        return SelfTestResult(
            False,
            seconds,
            f"the self-test produced {outcome.get('samples')} samples, expected {expected_samples}",
        )
    return SelfTestResult(True, seconds)


def verify_accelerator(
    name: str,
    on_accelerator: Callable[[], int],
    on_cpu: Callable[[], int],
    expected_samples: int,
    timeout_s: float = 60.0,
    clock: Callable[[], float] = time.perf_counter,
) -> DeviceChoice:
    """Keep `name` only if its self-test passes and beats the CPU; else fall back to the CPU."""
    cpu = run_self_test(on_cpu, expected_samples, timeout_s, clock)
    accelerated = run_self_test(on_accelerator, expected_samples, timeout_s, clock)
    if not accelerated.ok:
        return DeviceChoice("cpu", f"{name.upper()} disabled, using the CPU: {accelerated.reason}")
    if (
        cpu.ok
        and cpu.seconds is not None
        and accelerated.seconds is not None
        and accelerated.seconds >= cpu.seconds
    ):
        return DeviceChoice(
            "cpu",
            f"{name.upper()} disabled, using the CPU: its self-test took {accelerated.seconds:.2f} s "
            f"against {cpu.seconds:.2f} s on the CPU",
        )
    return DeviceChoice(name)
