"""Decoding a whole encoded sentence back to 24 kHz PCM (app.services.transcode.decoded_pcm),
as a live take in MP3 or WAV is heard after it played."""

from __future__ import annotations

import math
import struct

import av
import pytest

from app.services.speech import wav_stream_header
from app.services.transcode import PcmTranscoder, decoded_pcm, parse_output_format

RATE = 24000


def tone(seconds: float) -> bytes:
    count = int(RATE * seconds)
    return struct.pack(
        f"<{count}h", *(int(8000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(count))
    )


def test_a_streamed_wav_decodes_to_its_samples() -> None:
    pcm = tone(1.0)
    assert decoded_pcm(wav_stream_header(RATE) + pcm) == pcm  # sizes unknown, as streamed


def test_an_mp3_at_another_rate_decodes_to_24khz_of_the_same_length() -> None:
    pcm = tone(1.5)
    encoder = PcmTranscoder(parse_output_format("mp3_44100_128"))  # type: ignore[arg-type]
    mp3 = encoder.feed(pcm) + encoder.flush()
    decoded = decoded_pcm(mp3)
    assert len(decoded) % 2 == 0
    assert abs(len(decoded) / 2 / RATE - 1.5) < 0.1  # the encoder's padding, no more


def test_what_is_not_audio_is_an_error() -> None:
    with pytest.raises(av.error.FFmpegError):
        decoded_pcm(b"not audio at all" * 100)
