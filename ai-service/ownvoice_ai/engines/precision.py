"""Which precision the XTTS GPT runs in: fp32, or the int8 fast path when fp32 cannot keep up.

`OWNVOICE_XTTS_PRECISION=auto` (the default) measures, at load, how long fp32 takes per audio
token on the chosen device (a few GPT steps plus the vocoder on what they produced) and keeps
fp32 only where that is fast enough for real time; elsewhere on a CPU it takes the fast path
(int8 GPT, vocoder overlapped on a second thread, bf16 vocoder where the CPU has native bf16:
optimize.py). `fp32` and `int8` skip the measurement. The choice and its reason go to /ready.
What int8 changes in the output is measured by the benchmark (bench/numerics.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

CODES_PER_SECOND = 22050 / 1024  # XTTS: one audio code per 1024 samples at 22.05 kHz
REAL_TIME_MS_PER_TOKEN = 1000 / CODES_PER_SECOND  # 46.4 ms: slower than this falls behind

Precision = Literal["fp32", "int8"]
Requested = Literal["auto", "fp32", "int8"]


@dataclass(frozen=True)
class SpeedSample:
    """fp32 milliseconds per audio token, measured at load: the GPT step and the vocoder's share."""

    decode_ms: float
    vocoder_ms: float

    @property
    def total_ms(self) -> float:
        return self.decode_ms + self.vocoder_ms


@dataclass(frozen=True)
class PrecisionChoice:
    chosen: Precision
    reason: str
    measured_ms_per_token: float | None = None  # fp32, GPT + vocoder, when measured
    decode_ms_per_token: float | None = None
    vocoder_ms_per_token: float | None = None
    needed_ms_per_token: float = REAL_TIME_MS_PER_TOKEN

    def as_dict(self) -> dict:
        return asdict(self)


def choose_precision(
    requested: Requested, device: str, measure: Callable[[], SpeedSample]
) -> PrecisionChoice:
    """fp32 or int8 for `device`; `measure` (run only for `auto` on a CPU) times fp32."""
    if requested == "fp32":
        return PrecisionChoice("fp32", "OWNVOICE_XTTS_PRECISION=fp32")
    if device != "cpu":
        why = "the int8 fast path runs on CPUs only"
        return PrecisionChoice(
            "fp32", f"{why}; {device} runs fp32 (OWNVOICE_XTTS_PRECISION={requested})"
        )
    if requested == "int8":
        return PrecisionChoice("int8", "OWNVOICE_XTTS_PRECISION=int8")
    sample = measure()
    measured = dict(
        measured_ms_per_token=sample.total_ms,
        decode_ms_per_token=sample.decode_ms,
        vocoder_ms_per_token=sample.vocoder_ms,
    )
    figure = (
        f"fp32 {sample.total_ms:.0f} ms/token (GPT {sample.decode_ms:.0f} + vocoder "
        f"{sample.vocoder_ms:.0f})"
    )
    if sample.total_ms > REAL_TIME_MS_PER_TOKEN:
        return PrecisionChoice(
            "int8",
            f"{figure} > {REAL_TIME_MS_PER_TOKEN:.0f} ms/token needed for real time; "
            "OWNVOICE_XTTS_PRECISION=fp32 keeps fp32",
            **measured,
        )
    return PrecisionChoice(
        "fp32",
        f"{figure} <= {REAL_TIME_MS_PER_TOKEN:.0f} ms/token needed for real time",
        **measured,
    )
