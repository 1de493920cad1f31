"""Streaming re-encoding of 24 kHz mono s16le PCM with PyAV (resample, MP3), and decoding
back to it.

The inference service speaks 24 kHz; ElevenLabs clients ask for e.g. `pcm_16000` or
`mp3_44100_128`. A transcoder takes PCM chunks as they arrive and returns encoded bytes
as soon as the codec has them, so streaming survives the conversion. `decoded_pcm` turns a
whole encoded sentence (MP3, WAV, Ogg Opus) back into 24 kHz PCM, to be heard.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
from av.audio.fifo import AudioFifo
from av.audio.resampler import AudioResampler

SOURCE_RATE = 24000
BYTES_PER_SAMPLE = 2  # s16 mono


@dataclass(frozen=True)
class OutputFormat:
    codec: str  # "pcm", "mp3", "aac" or "flac"
    sample_rate: int
    bitrate_kbps: int | None = None

    @property
    def media_type(self) -> str:
        return {"mp3": "audio/mpeg", "aac": "audio/aac", "flac": "audio/flac"}.get(
            self.codec, "audio/pcm"
        )

    @property
    def is_source_pcm(self) -> bool:
        return self.codec == "pcm" and self.sample_rate == SOURCE_RATE


# The ElevenLabs output formats we produce from 24 kHz audio.
_FORMAT_PATTERN = re.compile(r"^(pcm)_(\d+)$|^(mp3)_(\d+)_(\d+)$")
PCM_RATES = {8000, 16000, 22050, 24000, 44100, 48000}
MP3_RATES = {22050, 24000, 44100}
MP3_BITRATES = {32, 64, 96, 128, 192}


def parse_output_format(name: str) -> OutputFormat | None:
    match = _FORMAT_PATTERN.match(name)
    if not match:
        return None
    if match.group(1):
        rate = int(match.group(2))
        return OutputFormat("pcm", rate) if rate in PCM_RATES else None
    rate, kbps = int(match.group(4)), int(match.group(5))
    if rate in MP3_RATES and kbps in MP3_BITRATES:
        return OutputFormat("mp3", rate, kbps)
    return None


def supported_output_formats() -> list[str]:
    return sorted(
        [f"pcm_{r}" for r in PCM_RATES] + [f"mp3_{r}_{b}" for r in MP3_RATES for b in MP3_BITRATES]
    )


class _Sink:
    """A write-only file for PyAV's muxer; we drain what it wrote after every packet."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


# Encoded targets: (codec, muxer or None for raw packets, sample format, frame size; None:
# the encoder's own).
_ENCODERS = {
    "mp3": ("libmp3lame", None, "s16p", None),
    "aac": ("aac", "adts", "fltp", 1024),
    "flac": ("flac", "flac", "s16", 1024),
}


class PcmTranscoder:
    """Feed 24 kHz s16le mono bytes; get bytes in the target format back, as soon as encoded."""

    def __init__(self, target: OutputFormat) -> None:
        self.target = target
        self._carry = b""  # half a sample left over from the previous chunk
        self._pts = 0
        if target.codec == "pcm":
            self._resampler = AudioResampler(format="s16", layout="mono", rate=target.sample_rate)
            return
        codec, muxer, sample_format, frame_size = _ENCODERS[target.codec]
        self._resampler = AudioResampler(
            format=sample_format, layout="mono", rate=target.sample_rate
        )
        self._fifo = AudioFifo()
        self._sink = _Sink()
        self._container = None
        if muxer is None:
            encoder = cast(av.AudioCodecContext, av.CodecContext.create(codec, "w"))
            encoder.sample_rate = target.sample_rate
            encoder.layout = "mono"
            encoder.format = sample_format
            encoder.bit_rate = (target.bitrate_kbps or 128) * 1000
            encoder.open()
            self._encoder = encoder
            self._frame_size = encoder.frame_size
        else:
            self._container = av.open(self._sink, "w", format=muxer)
            stream = cast(
                av.AudioStream,
                self._container.add_stream(codec, rate=target.sample_rate, layout="mono"),
            )
            if target.bitrate_kbps:
                stream.codec_context.bit_rate = target.bitrate_kbps * 1000
            self._stream = stream
            self._frame_size = frame_size or 1024

    def _frame(self, pcm: bytes) -> av.AudioFrame:
        samples = len(pcm) // BYTES_PER_SAMPLE
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = SOURCE_RATE
        frame.pts = self._pts
        frame.time_base = Fraction(1, SOURCE_RATE)
        self._pts += samples
        return frame

    def _packets(self, frame: av.AudioFrame | None) -> bytes:
        if self._container is None:
            return b"".join(bytes(p) for p in self._encoder.encode(frame))
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def _convert(self, frames: list[av.AudioFrame], final: bool) -> bytes:
        if self.target.codec == "pcm":
            return b"".join(bytes(f.planes[0])[: f.samples * BYTES_PER_SAMPLE] for f in frames)
        out = bytearray()
        for frame in frames:
            frame.pts = None
            self._fifo.write(frame)
        while self._fifo.samples >= self._frame_size or (final and self._fifo.samples):
            out += self._packets(self._fifo.read(min(self._frame_size, self._fifo.samples)))
        if final:
            out += self._packets(None)
            if self._container is not None:
                self._container.close()
                out += self._sink.take()
        return bytes(out)

    def feed(self, data: bytes) -> bytes:
        data = self._carry + data
        usable = len(data) - len(data) % BYTES_PER_SAMPLE
        self._carry = data[usable:]
        if not usable:
            return b""
        return self._convert(self._resampler.resample(self._frame(data[:usable])), final=False)

    def flush(self) -> bytes:
        return self._convert(self._resampler.resample(None), final=True)


def decoded_pcm(data: bytes, rate: int = SOURCE_RATE) -> bytes:
    """Whole encoded audio (any container PyAV reads) as s16le mono PCM at `rate` (24 kHz, the
    service's). Raises av.error.FFmpegError for data it cannot read."""
    resampler = AudioResampler(format="s16", layout="mono", rate=rate)
    pcm = bytearray()
    with av.open(io.BytesIO(data), "r") as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                pcm += bytes(out.planes[0])[: out.samples * BYTES_PER_SAMPLE]
    for out in resampler.resample(None):
        pcm += bytes(out.planes[0])[: out.samples * BYTES_PER_SAMPLE]
    return bytes(pcm)


def transcoded(pcm: bytes, target: OutputFormat) -> bytes:
    """Whole 24 kHz s16le mono PCM in `target`'s format (what a stream of it would have sent)."""
    transcoder = PcmTranscoder(target)
    return transcoder.feed(pcm) + transcoder.flush()


def source_pcm(data: bytes, fmt: OutputFormat) -> bytes:
    """Audio in `fmt` (as `transcoded` or a stream made it) back as 24 kHz s16le mono PCM."""
    if fmt.codec != "pcm":
        return decoded_pcm(data)
    if fmt.sample_rate == SOURCE_RATE:
        return data
    samples = len(data) // BYTES_PER_SAMPLE
    frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
    frame.planes[0].update(data[: samples * BYTES_PER_SAMPLE])
    frame.sample_rate = fmt.sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, fmt.sample_rate)
    resampler = AudioResampler(format="s16", layout="mono", rate=SOURCE_RATE)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return b"".join(bytes(f.planes[0])[: f.samples * BYTES_PER_SAMPLE] for f in frames)
