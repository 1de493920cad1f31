"""Issue 16's CPU targets, checked against one run's results, and the CPU's vector extensions.

The targets depend on the CPU: AVX-512 machines (the project's VMs, with native bf16) must do
more than AVX2-only ones (laptops, small servers). Streaming, first audio, memory and listeners
are read from (k) `ours-default`, the service with its default settings (so the precision is
what `auto` picked); book rendering from the batched path of that precision at batch 8.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

EXTENSIONS = ("avx2", "avx512f", "avx512_bf16", "amx")


def cpu_extensions(cpuinfo: str | None = None) -> dict[str, bool]:
    """Which of EXTENSIONS the CPU reports in /proc/cpuinfo's flags (amx: any amx_* flag)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    found = {name: name in flags for name in EXTENSIONS}
    found["amx"] = any(flag.startswith("amx") for flag in flags)
    return found


@dataclass(frozen=True)
class Limits:
    streaming_rtf: float
    first_audio_s: float
    book_x_real_time: float


LIMITS = {"avx512": Limits(0.4, 0.3, 8.0), "avx2": Limits(1.0, 1.0, 2.0)}
PEAK_MEMORY_BYTES = 2e9
LISTENERS_P95_RATIO = 3.0
BOOK_BATCH = 8
VERIFICATION_COST_PERCENT = 25.0  # of book rendering's throughput (issue 15 item 9)


def cpu_tier(extensions: dict[str, bool]) -> str:
    return "avx512" if extensions.get("avx512f") else "avx2"


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None  # None: not measured in this run (then missed)
    limit: float
    at_most: bool  # True: value <= limit; False: value >= limit
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool:
        if self.value is None or self.value != self.value:  # missing or NaN
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def line(self) -> str:
        sign = "<=" if self.at_most else ">="
        value = "not measured" if self.value is None else f"{self.value:.2f}{self.unit}"
        note = f" ({self.note})" if self.note else ""
        return (
            f"target {self.name} {sign} {self.limit:g}{self.unit}: {value}{note}: "
            f"{'met' if self.met else 'missed'}"
        )


def targets(
    results: dict[str, dict[str, Any]],
    extensions: dict[str, bool],
    verification: dict[str, Any] | None = None,
) -> list[Target]:
    """`verification`: hearing's cost per second of real speech (bench.verification)."""
    tier = cpu_tier(extensions)
    limits = LIMITS[tier]
    default = results.get("ours-default") or {}
    precision = (default.get("precision") or {}).get("chosen")
    base = results.get("coqui-inference")
    versus = (
        f"coqui Xtts.inference RTF {base['rtf']:.2f} in this run"
        if base and base.get("rtf")
        else ""
    )
    on = f"{tier}, default settings ({precision or 'not run'})"
    return [
        Target(
            f"streaming RTF [{on}]", default.get("rtf"), limits.streaming_rtf, True, note=versus
        ),
        Target(f"first audio [{on}]", default.get("ttfa_s"), limits.first_audio_s, True, " s"),
        _book_target(results, precision, limits, tier),
        Target(
            "peak memory of the inference service",
            _gigabytes(default.get("peak_rss_overall_bytes")),
            PEAK_MEMORY_BYTES / 1e9,
            True,
            " GB",
        ),
        _listeners_target(default),
        _verification_target(default, verification),
    ]


def _book_target(results, precision: str | None, limits: Limits, tier: str) -> Target:
    path = "ours-fast-batch" if precision == "int8" else "ours-batch"
    run = (
        ((results.get(path) or {}).get("batching") or {})
        .get("by_batch_size", {})
        .get(str(BOOK_BATCH))
    )
    return Target(
        f"book rendering x real time [{tier}, {path}, batch {BOOK_BATCH}]",
        run["x_real_time"] if run else None,
        limits.book_x_real_time,
        False,
        "x",
    )


def _listeners_target(default: dict[str, Any]) -> Target:
    listeners = default.get("listeners") or {}
    one, eight = listeners.get("1"), listeners.get("8")
    ratio = (
        eight["first_audio_p95_s"] / one["first_audio_p95_s"]
        if one and eight and one["first_audio_p95_s"]
        else None
    )
    note = (
        f"{eight['first_audio_p95_s']:.2f} s vs {one['first_audio_p95_s']:.2f} s"
        if ratio is not None
        else ""
    )
    return Target(
        "p95 first audio at 8 listeners / single listener",
        ratio,
        LISTENERS_P95_RATIO,
        True,
        "x",
        note,
    )


def _verification_target(default: dict[str, Any], heard: dict[str, Any] | None) -> Target:
    """What hearing every take costs book rendering, on real speech.

    The bench's random checkpoint speaks noise, on which Whisper hallucinates and decodes far
    longer than on speech, so hearing its takes overstates the cost. The service hears each
    batch's takes on the device worker between two renders, one after the other, so hearing
    real speech costs rendering `heard / (render + heard)` of its throughput: `render` is the
    batch path's seconds per audio second with verification off, `heard` the seconds per audio
    second of recognition and speaker similarity on the shared real speech, both in this run.
    The same sentences rendered with verification on (hearing the noise) are in the note."""
    rendered = default.get("verified_rendering") or {}
    cost = None
    note = ""
    if rendered.get("x_real_time_off") and heard:
        render_s = 1.0 / rendered["x_real_time_off"]
        hearing_s = heard["verification_s_per_audio_s"]
        cost = hearing_s / (render_s + hearing_s)
        note = (
            f"rendering {render_s:.3f} s + hearing real speech {hearing_s:.3f} s per audio "
            f"second; hearing the random model's noise: "
            f"{rendered['throughput_cost'] * 100:.0f}%"
        )
    return Target(
        "verification cost of render throughput",
        cost * 100 if cost is not None else None,
        VERIFICATION_COST_PERCENT,
        True,
        "%",
        note,
    )


def _gigabytes(value: float | None) -> float | None:
    return value / 1e9 if value is not None else None


def summary(
    results: dict[str, dict[str, Any]],
    extensions: dict[str, bool],
    verification: dict[str, Any] | None = None,
) -> list[dict]:
    """The targets as JSON: each with its line, as printed."""
    return [
        {**asdict(t), "met": t.met, "line": t.line()}
        for t in targets(results, extensions, verification)
    ]
