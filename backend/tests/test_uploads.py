"""Audio type sniffing by content, on real speech in every accepted container."""

from __future__ import annotations

import pytest
from audio_files import CLEAN_WAV, FLAC, reencode

from app.services.uploads import sniff_audio


@pytest.mark.parametrize(
    ("container", "codec", "expected"),
    [
        ("mp3", "libmp3lame", "mp3"),
        ("ipod", "aac", "m4a"),
        ("webm", "libopus", "webm"),
        ("ogg", "libopus", "ogg"),
        ("flac", "flac", "flac"),
    ],
)
def test_real_speech_in_each_container_is_recognised(
    container: str, codec: str, expected: str
) -> None:
    rate = 48000 if codec == "libopus" else 24000
    assert sniff_audio(reencode(CLEAN_WAV, container, codec, rate)[:12]) == expected


def test_original_files_are_recognised() -> None:
    assert sniff_audio(CLEAN_WAV.read_bytes()[:12]) == "wav"
    assert sniff_audio(FLAC.read_bytes()[:12]) == "flac"


def test_mp3_without_id3_tag_is_recognised_by_frame_sync() -> None:
    data = reencode(CLEAN_WAV, "mp3", "libmp3lame")
    if data[:3] == b"ID3":  # skip the tag to reach the first MPEG frame
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        data = data[10 + size :]
    assert data[0] == 0xFF
    assert sniff_audio(data[:12]) == "mp3"


@pytest.mark.parametrize(
    "head",
    [
        b"hello world, not audio",
        b"RIFF\x00\x00\x00\x00AVI LIST",
        b"%PDF-1.7\n%\xe2\xe3",
        b"PK\x03\x04\x14\x00\x00\x00",
        b"\xff\xf1\x50\x80\x00\x1f\xfc",  # AAC ADTS, not MPEG audio
        b"",
        b"\xff",
    ],
)
def test_other_content_is_not_audio(head: bytes) -> None:
    assert sniff_audio(head) is None
