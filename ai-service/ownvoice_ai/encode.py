"""Streaming encoders: float32 chunks in, bytes out as soon as they exist.

- `wav`: a RIFF header with unknown length (0xFFFFFFFF sizes, as streaming servers send), then
  16-bit PCM; players read until the connection ends.
- `pcm_24000`: raw signed 16-bit little-endian mono at 24 kHz.
- `mp3`, `opus` (in Ogg): PyAV's bundled FFmpeg (libmp3lame, libopus), muxed into a write-only
  sink so every encoded packet leaves with the chunk that produced it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal, cast, get_args

import av
import numpy as np
from av.audio.stream import AudioStream

OutputFormat = Literal["wav", "pcm_24000", "mp3", "opus"]
FORMATS: tuple[str, ...] = get_args(OutputFormat)
MEDIA_TYPES = {
    "wav": "audio/wav",
    "pcm_24000": "audio/L16;rate=24000",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
}
UNKNOWN_SIZE = 0xFFFFFFFF


def to_s16le(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def streaming_wav_header(sample_rate: int, channels: int = 1, bits: int = 16) -> bytes:
    block_align = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", UNKNOWN_SIZE)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block_align, block_align, bits
        )
        + b"data"
        + struct.pack("<I", UNKNOWN_SIZE)
    )


class Encoder:
    media_type: str

    def encode(self, samples: np.ndarray) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        return b""


class PcmEncoder(Encoder):
    media_type = MEDIA_TYPES["pcm_24000"]

    def encode(self, samples: np.ndarray) -> bytes:
        return to_s16le(samples)


class WavEncoder(Encoder):
    media_type = MEDIA_TYPES["wav"]

    def __init__(self, sample_rate: int) -> None:
        self._header: bytes | None = streaming_wav_header(sample_rate)

    def encode(self, samples: np.ndarray) -> bytes:
        header, self._header = self._header or b"", None
        return header + to_s16le(samples)

    def finish(self) -> bytes:
        return self._header or b""  # an empty stream is still a valid (empty) WAV


class _Sink:
    """A write-only file for PyAV: collects what the muxer writes until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


@dataclass(frozen=True)
class _CodecSpec:
    container: str
    codec: str
    sample_format: str
    bit_rate: int
    options: dict[str, str] | None = None


_CODECS = {
    "mp3": _CodecSpec("mp3", "libmp3lame", "s16p", 64_000),
    # Ogg pages normally hold up to a second; 20 ms pages let each chunk leave at once.
    "opus": _CodecSpec("ogg", "libopus", "s16", 48_000, {"page_duration": "20000"}),
}


class AvEncoder(Encoder):
    def __init__(self, format_name: str, sample_rate: int) -> None:
        spec = _CODECS[format_name]
        self.media_type = MEDIA_TYPES[format_name]
        self.sample_rate = sample_rate
        self._sink = _Sink()
        self._container = av.open(
            self._sink, mode="w", format=spec.container, options=spec.options or {}
        )
        self._stream = cast(AudioStream, self._container.add_stream(spec.codec, rate=sample_rate))
        self._stream.layout = "mono"
        self._stream.format = spec.sample_format
        self._stream.bit_rate = spec.bit_rate
        self._pts = 0

    def encode(self, samples: np.ndarray) -> bytes:
        if len(samples) == 0:
            return self._sink.take()
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        self._pts += pcm.shape[1]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()


def make_encoder(format_name: str, sample_rate: int) -> Encoder:
    if format_name == "wav":
        return WavEncoder(sample_rate)
    if format_name == "pcm_24000":
        return PcmEncoder()
    if format_name in _CODECS:
        return AvEncoder(format_name, sample_rate)
    raise ValueError(f"unknown format {format_name!r}; use one of {', '.join(FORMATS)}")
