"""Every output format decodes back (PyAV) to the expected sample rate and duration."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest

from ownvoice_ai.encode import UNKNOWN_SIZE, make_encoder

RATE = 24000


def decode(data: bytes, fmt: str) -> tuple[int, float]:
    if fmt == "pcm_24000":
        container = av.open(
            io.BytesIO(data),
            format="s16le",
            options={"sample_rate": str(RATE), "ch_layout": "mono"},
        )
    else:
        container = av.open(io.BytesIO(data))
    with container:
        samples, rate = 0, 0
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    return rate, samples / rate


def encode_in_chunks(fmt: str, audio: np.ndarray, chunk: int = 4000) -> list[bytes]:
    encoder = make_encoder(fmt, RATE)
    parts = [encoder.encode(audio[i : i + chunk]) for i in range(0, len(audio), chunk)]
    parts.append(encoder.finish())
    return parts


# Opus always decodes at 48 kHz (RFC 7845); its header keeps the 24 kHz input rate.
EXPECTED_RATE = {"wav": RATE, "pcm_24000": RATE, "mp3": RATE, "opus": 48000}


@pytest.mark.parametrize("fmt", ["wav", "pcm_24000", "mp3", "opus"])
def test_format_decodes_to_rate_and_duration(fmt):
    seconds = 2.5
    t = np.arange(int(RATE * seconds)) / RATE
    audio = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    parts = encode_in_chunks(fmt, audio)
    rate, duration = decode(b"".join(parts), fmt)
    assert rate == EXPECTED_RATE[fmt]
    assert duration == pytest.approx(seconds, abs=0.08)  # mp3/opus add a few ms of codec padding
    # streamed: bytes come out while encoding, not only at the end
    assert sum(1 for part in parts[:-1] if part) >= len(parts) // 2


def test_wav_header_announces_unknown_length_and_comes_first():
    encoder = make_encoder("wav", RATE)
    first = encoder.encode(np.zeros(100, dtype=np.float32))
    assert first[:4] == b"RIFF" and first[8:12] == b"WAVE"
    assert struct.unpack("<I", first[4:8])[0] == UNKNOWN_SIZE
    assert struct.unpack("<I", first[40:44])[0] == UNKNOWN_SIZE
    assert len(first) == 44 + 200
    assert len(encoder.encode(np.zeros(100, dtype=np.float32))) == 200


def test_pcm_is_s16le_and_clips():
    data = make_encoder("pcm_24000", RATE).encode(np.array([0.0, 1.0, -1.0, 2.0], dtype=np.float32))
    assert struct.unpack("<4h", data) == (0, 32767, -32767, 32767)
