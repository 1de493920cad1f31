"""Audio writers: an M4B (AAC in MP4, one chapter mark per chapter, cover and tags) and one
MP3 per chapter (ID3v2 tags and cover), both with PyAV's bundled FFmpeg: no shell-out.

Both take the chapters' timelines (assemble.py), stream their PCM through one `Leveller`
(loudness.py) and write to a path they are given; publishing it atomically is the caller's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import av
import av.stream

from app.services.exports.assemble import SAMPLE_RATE, ChapterTimeline, pcm_chunks
from app.services.exports.loudness import Leveller

if TYPE_CHECKING:
    from av.container.core import Chapter

# FFmpeg's AAC encoder at 64 kb/s mono overshot a -3 dBFS limited voice onset to 0 dBFS
# (measured on Piper speech); at 96 kb/s it stays within 0.1 dB. About 43 MB per hour.
AAC_BITRATE = 96_000
MP3_BITRATE = 64_000
# ISO 639-2 codes for MP4's language field, for the languages the voices speak.
ISO639_2 = {
    "ar": "ara", "cs": "ces", "de": "deu", "en": "eng", "es": "spa", "fr": "fra", "hi": "hin",
    "hu": "hun", "it": "ita", "ja": "jpn", "ko": "kor", "nl": "nld", "pl": "pol", "pt": "por",
    "ru": "rus", "tr": "tur", "zh": "zho",
}  # fmt: skip


@dataclass(frozen=True)
class Cover:
    media_type: str  # image/jpeg or image/png (other types are left out)
    data: bytes


@dataclass(frozen=True)
class BookTags:
    title: str
    author: str | None
    narrator: str  # the voice's name
    language: str  # as the book says it: "en", "en-US"
    year: str | None = None
    description: str | None = None
    cover: Cover | None = None

    def container_metadata(self) -> dict[str, str]:
        tags = {
            "title": self.title,
            "album": self.title,
            "artist": self.author or "",
            "album_artist": self.author or "",
            "composer": self.narrator,  # where audiobook players look for the narrator
            "performer": self.narrator,
            "genre": "Audiobook",
            "date": self.year or "",
            "description": self.description or "",
            "comment": f"Read by {self.narrator}",
            "language": self.iso_language,
        }
        return {key: value for key, value in tags.items() if value}

    @property
    def iso_language(self) -> str:
        code = self.language.split("-")[0].lower()
        return ISO639_2.get(code, code if len(code) == 3 else "und")


Stop = Callable[[], None]  # raises when the export was cancelled


def _image_size(cover: Cover) -> tuple[int, int]:
    """Width and height from a PNG's header or a JPEG's frame header ((1, 1) if unreadable)."""
    data = cover.data
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    at = 2
    while at + 9 < len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2 : at + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return 1, 1


def _add_cover(container: av.container.OutputContainer, cover: Cover | None) -> None:
    """The cover as an attached picture (MP4 `covr`, ID3 `APIC`); call before muxing audio."""
    if cover is None or cover.media_type not in ("image/jpeg", "image/png"):
        return
    stream = container.add_stream("mjpeg" if cover.media_type == "image/jpeg" else "png")
    stream.width, stream.height = _image_size(cover)
    stream.pix_fmt = "yuvj420p" if cover.media_type == "image/jpeg" else "rgb24"
    stream.disposition = av.stream.Disposition.attached_pic
    stream.time_base = Fraction(1, 90000)
    packet = av.Packet(cover.data)
    packet.stream = stream
    packet.pts = packet.dts = 0
    packet.is_keyframe = True
    container.mux(packet)


def _audio_stream(
    container: av.container.OutputContainer, codec: str, bitrate: int
) -> av.AudioStream:
    stream = cast(av.AudioStream, container.add_stream(codec, rate=SAMPLE_RATE, layout="mono"))
    stream.bit_rate = bitrate
    return stream


def _encode(
    container: av.container.OutputContainer,
    stream: av.AudioStream,
    chapters: list[ChapterTimeline],
    leveller: Leveller,
    stop: Stop,
) -> None:
    for chapter in chapters:
        for chunk in pcm_chunks(chapter):
            stop()
            for frame in leveller.push(chunk):
                container.mux(stream.encode(frame))
    for frame in leveller.flush():
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def chapter_marks(chapters: list[ChapterTimeline]) -> list[Chapter]:
    """One mark per chapter, from its first sample (where its first sentence starts) to the
    next chapter's, in samples."""
    marks: list[Chapter] = []
    start = 0
    for n, chapter in enumerate(chapters):
        marks.append(
            {
                "id": n + 1,
                "start": start,
                "end": start + chapter.samples,
                "time_base": Fraction(1, SAMPLE_RATE),
                "metadata": {"title": chapter.title},
            }
        )
        start += chapter.samples
    return marks


def write_m4b(
    chapters: list[ChapterTimeline], gain_db: float, tags: BookTags, out: Path, stop: Stop
) -> None:
    with av.open(str(out), "w", format="mp4", options={"brand": "M4B "}) as container:
        container.metadata.update(tags.container_metadata())
        stream = _audio_stream(container, "aac", AAC_BITRATE)
        stream.metadata["language"] = tags.iso_language
        container.set_chapters(chapter_marks(chapters))
        _add_cover(container, tags.cover)
        _encode(container, stream, chapters, Leveller(gain_db), stop)


def write_mp3(
    chapter: ChapterTimeline,
    gain_db: float,
    tags: BookTags,
    track: tuple[int, int],
    out: Path,
    stop: Stop,
) -> None:
    """One chapter as an MP3 with ID3v2.4 tags: title, album = book, artist, track n/total."""
    with av.open(str(out), "w", format="mp3", options={"id3v2_version": "4"}) as container:
        container.metadata.update(tags.container_metadata())
        container.metadata.update(title=chapter.title, track=f"{track[0]}/{track[1]}")
        stream = _audio_stream(container, "libmp3lame", MP3_BITRATE)
        _add_cover(container, tags.cover)
        _encode(container, stream, [chapter], Leveller(gain_db), stop)
