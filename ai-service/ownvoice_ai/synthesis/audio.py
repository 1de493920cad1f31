"""Every engine's audio at the one output rate (24 kHz mono float32), streamed or whole."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..engines.base import AudioChunk
from ..engines.xtts import SAMPLE_RATE

OUTPUT_SAMPLE_RATE = SAMPLE_RATE  # every format is 24 kHz mono; other engines are resampled


def at_output_rate_stream(chunks: Iterator[AudioChunk], sample_rate: int) -> Iterator[AudioChunk]:
    """A stream of `sample_rate` chunks, resampled as it goes (the last chunk flushes)."""
    resampler = None
    if sample_rate != OUTPUT_SAMPLE_RATE:
        import soxr

        resampler = soxr.ResampleStream(sample_rate, OUTPUT_SAMPLE_RATE, 1, dtype="float32")
    for audio in chunks:
        samples = np.asarray(audio.samples, dtype=np.float32)
        if resampler is not None:
            samples = resampler.resample_chunk(samples, last=audio.is_last)
        yield AudioChunk(samples, OUTPUT_SAMPLE_RATE, is_last=audio.is_last)


def at_output_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Whole audio at `sample_rate`, resampled at once."""
    samples = np.asarray(samples, dtype=np.float32)
    if sample_rate == OUTPUT_SAMPLE_RATE:
        return samples
    import soxr

    return soxr.resample(samples, sample_rate, OUTPUT_SAMPLE_RATE).astype(np.float32, copy=False)


def joined(pieces: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
