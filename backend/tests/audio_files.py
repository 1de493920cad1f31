"""Real speech from ../shared/data/speech, and the same speech re-encoded with PyAV."""

from __future__ import annotations

import io
from pathlib import Path

import av
from servers import SHARED_DATA

LJSPEECH = SHARED_DATA / "speech" / "ljspeech"
LIBRISPEECH = SHARED_DATA / "speech" / "librispeech"
CLEAN_WAV = LJSPEECH / "LJ001-0001.wav"  # 9.7 s
OTHER_WAV = LJSPEECH / "LJ001-0014.wav"  # 9.9 s
SHORT_WAV = LJSPEECH / "LJ001-0002.wav"  # 1.9 s: under the 3 s of speech a voice needs
FLAC = LIBRISPEECH / "1688" / "1688-142285-0000.flac"  # 15 s


def reencode(source: Path, container: str, codec: str, rate: int = 24000) -> bytes:
    """The speech in `source` as another container/codec, entirely in memory."""
    out = io.BytesIO()
    with av.open(str(source)) as inp, av.open(out, "w", format=container) as dst:
        stream = dst.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(
            format=stream.codec_context.format or "s16", layout="mono", rate=rate
        )
        for frame in inp.decode(audio=0):
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out.getvalue()


def decode(data: bytes) -> tuple[int, float]:
    """(sample rate, seconds) of encoded audio."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.sample_rate, samples / stream.codec_context.sample_rate
