"""Loudness to an audiobook target, with FFmpeg's filters through PyAV (no numpy here).

`measure` runs FFmpeg's EBU R128 meter (`ebur128`, with true peak) over the whole export;
`target_gain` finds the one gain that brings it to the target once a look-ahead limiter
(`alimiter`, latency-compensated, so no sample moves) has kept the peaks under the ceiling
(a pass or two more, measuring the levelled audio); `Leveller` applies both while encoding. One gain for
the whole book keeps chapters as loud as each other.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.filter

from app.services.exports.assemble import SAMPLE_BYTES, SAMPLE_RATE

TARGET_LUFS = -18.0  # EBU R128 integrated, what audiobook platforms ask for (-18 to -23)
CEILING_DBTP = -1.5  # true peak, after encoding
# The limiter sees samples, not true peaks, and AAC/MP3 encoding overshoots a little: it
# limits this much below the ceiling.
LIMITER_MARGIN_DB = 1.5
SILENT = -70.0  # the R128 absolute gate: quieter than this has no loudness to correct


@dataclass(frozen=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP

    def gain_db(self, target: float = TARGET_LUFS) -> float:
        """The gain that brings this audio to `target`; none for silence."""
        return 0.0 if self.integrated <= SILENT else target - self.integrated


def _graph(filters: list[tuple[str, str]]) -> av.filter.Graph:
    graph = av.filter.Graph()
    node = graph.add_abuffer(
        format="s16", sample_rate=SAMPLE_RATE, layout="mono", time_base=Fraction(1, SAMPLE_RATE)
    )
    for name, args in filters:
        nxt = graph.add(name, args)
        node.link_to(nxt)
        node = nxt
    node.link_to(graph.add("abuffersink"))
    graph.configure()
    return graph


class _Pipe:
    """PCM bytes in, filtered frames out; pts counted in samples."""

    def __init__(self, filters: list[tuple[str, str]]) -> None:
        self._graph = _graph(filters)
        self._pts = 0

    def push(self, pcm: bytes) -> Iterator[av.AudioFrame]:
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // SAMPLE_BYTES)
        frame.planes[0].update(pcm)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        self._pts += frame.samples
        self._graph.push(frame)
        return self._pull()

    def flush(self) -> Iterator[av.AudioFrame]:
        self._graph.push(None)
        return self._pull()

    def _pull(self) -> Iterator[av.AudioFrame]:
        while True:
            try:
                frame = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            assert isinstance(frame, av.AudioFrame)
            yield frame


def _db(linear: float) -> float:
    return 20 * math.log10(linear) if linear > 0 else -math.inf


def _levelling(gain_db: float, ceiling_dbtp: float) -> list[tuple[str, str]]:
    limit = 10 ** ((ceiling_dbtp - LIMITER_MARGIN_DB) / 20)
    return [
        ("volume", f"volume={gain_db:.3f}dB:precision=double"),
        ("alimiter", f"limit={limit:.5f}:attack=5:release=50:level=0:latency=1"),
    ]


def measure(
    chunks: Iterable[bytes], gain_db: float | None = None, *, true_peak: bool = True
) -> Loudness:
    """The integrated loudness and true peak of the PCM `chunks` (s16 mono 24 kHz); with
    `gain_db`, of what a `Leveller(gain_db)` makes of them. Without `true_peak` the peak is
    not measured (reported as -inf): the meter's 4x oversampling is two thirds of its time."""
    levelling = [] if gain_db is None else _levelling(gain_db, CEILING_DBTP)
    meter = "metadata=1:peak=true" if true_peak else "metadata=1"
    pipe = _Pipe([*levelling, ("ebur128", meter)])
    totals: dict[str, str] = {}
    for chunk in itertools.chain(chunks, [None]):
        for frame in pipe.push(chunk) if chunk is not None else pipe.flush():
            if "lavfi.r128.I" in frame.metadata:  # the meter's running totals ride on frames
                totals = dict(frame.metadata)
    return Loudness(
        float(totals.get("lavfi.r128.I", SILENT)),
        _db(float(totals.get("lavfi.r128.true_peak", 0))),
    )


def target_gain(chunks: Callable[[], Iterable[bytes]], passes: int = 2) -> float:
    """The gain that brings the PCM `chunks()` to TARGET_LUFS after the limiter: the limiter
    takes some loudness off the peaks, so the gain is corrected by what a levelled pass
    measures (each pass reads the audio again; memory stays flat)."""
    gain = measure(chunks(), true_peak=False).gain_db()  # the limiter sees to the peaks
    if gain == 0.0:
        return gain  # silence
    for _ in range(passes):
        levelled = measure(chunks(), gain, true_peak=False)
        if abs(levelled.integrated - TARGET_LUFS) < 0.1:
            break
        gain += levelled.gain_db()
    return gain


class Leveller:
    """Applies `gain_db` and limits the peaks; frames come out as float planar for the
    encoders, exactly as many samples as went in."""

    def __init__(self, gain_db: float, ceiling_dbtp: float = CEILING_DBTP) -> None:
        self._pipe = _Pipe([*_levelling(gain_db, ceiling_dbtp), ("aformat", "sample_fmts=fltp")])

    def push(self, pcm: bytes) -> Iterator[av.AudioFrame]:
        return self._pipe.push(pcm)

    def flush(self) -> Iterator[av.AudioFrame]:
        return self._pipe.flush()
