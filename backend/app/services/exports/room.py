"""Room for an export, checked before anything of it is rendered: its estimated size against
the disk's free space (keeping OWNVOICE_EXPORT_RESERVE_BYTES free) and against the user's
export quota (OWNVOICE_EXPORT_QUOTA_BYTES).

The size is estimated from the text (speech runs about 16 characters a second, plus a short
lead per sentence and the configured pauses) and the format's bitrate, with a margin; while an
export is assembled its chapter files and the archive that holds them exist side by side, so
that temporary space counts too. The audio cache is not counted: it is bounded by its own
setting (OWNVOICE_AUDIO_CACHE_MAX_BYTES).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.book import Book, Sentence
from app.models.export_job import ExportJob
from app.models.render_job import RENDER_ACTIVE, RENDER_DONE
from app.services.errors import InsufficientStorage
from app.services.exports.assemble import Pauses
from app.services.exports.audio import AAC_BITRATE, MP3_BITRATE

CHARS_PER_SECOND = 16.0
LEAD_S = 0.4  # a short sentence takes longer than its characters say
MARGIN = 1.25  # slower voices, container overhead, encoder padding
CUE_BYTES = 64  # a subtitle cue's number, times and line breaks
SMIL_CLIP_BYTES = 256  # a read-along's <par> for a sentence, and its <span> in the text
ZIP_ENTRY_BYTES = 256  # a zip member's two headers, its name twice (a chapter's title)

DISK_FULL = (
    "Not enough disk space for this export: it needs about {need} while it is written, and "
    "the server has {free} free, of which OWNVOICE_EXPORT_RESERVE_BYTES keeps {reserve} in "
    "reserve. Delete old exports or free space on the server, or export fewer chapters, then "
    "export again."
)
OVER_QUOTA = (
    "This export (about {need}) would take your exports past your quota of {quota} "
    "(OWNVOICE_EXPORT_QUOTA_BYTES): your exports use {used} already. Delete old exports, "
    "then export again."
)


@dataclass(frozen=True)
class TextStats:
    """What an export speaks: its sentences, their characters, paragraphs and chapters."""

    sentences: int
    chars: int
    paragraphs: int
    chapters: int


@dataclass(frozen=True)
class SizeEstimate:
    output: int  # the finished file
    temporary: int  # more, while it is assembled

    @property
    def peak(self) -> int:
        return self.output + self.temporary


def speech_seconds(stats: TextStats, speed: float, pauses: Pauses) -> float:
    spoken = (stats.chars / CHARS_PER_SECOND + stats.sentences * LEAD_S) / max(speed, 0.1)
    silence = (
        stats.sentences * pauses.sentence
        + stats.paragraphs * pauses.paragraph
        + stats.chapters * pauses.chapter
    )
    return spoken + silence


def estimate(
    fmt: str, stats: TextStats, speed: float, pauses: Pauses, extra: int = 0
) -> SizeEstimate:
    """The size of an export of `fmt`; `extra` is what it carries besides audio and text
    (the cover, in each audio file; for an EPUB, the book itself)."""
    members = ZIP_ENTRY_BYTES * (stats.chapters + 1)
    if fmt in ("srt", "vtt"):
        text = int((stats.chars + stats.sentences * CUE_BYTES) * MARGIN)
        return SizeEstimate(text + members, 0)
    bitrate = AAC_BITRATE if fmt == "m4b" else MP3_BITRATE
    audio = int(speech_seconds(stats, speed, pauses) * bitrate / 8 * MARGIN) + extra
    if fmt == "m4b":  # written in place under a temporary name, then renamed
        return SizeEstimate(audio, 0)
    if fmt == "epub":  # and a media overlay clip, and a span, per sentence
        members += stats.sentences * SMIL_CLIP_BYTES
    # MP3s and EPUB: chapter files first, then the archive that holds them.
    return SizeEstimate(audio + members, audio)


def text_stats(db: Session, book_id: str, chapter_ids: str | None) -> TextStats:
    query = select(
        func.count(Sentence.id),
        func.coalesce(func.sum(func.length(Sentence.text)), 0),
        func.count(func.distinct(Sentence.paragraph_id)),
        func.count(func.distinct(Sentence.chapter_id)),
    ).where(Sentence.book_id == book_id)
    if chapter_ids:
        query = query.where(Sentence.chapter_id.in_(chapter_ids.split(",")))
    sentences, chars, paragraphs, chapters = db.execute(query).one()
    return TextStats(int(sentences), int(chars), int(paragraphs), int(chapters))


def job_estimate(db: Session, job: ExportJob, pauses: Pauses, books_root: Path) -> SizeEstimate:
    book = db.get(Book, job.book_id)
    if book is None:
        return SizeEstimate(0, 0)
    stats = text_stats(db, job.book_id, job.chapter_ids)
    extra = len(book.cover.data) * max(stats.chapters, 1) if book.cover else 0
    if job.format == "epub" and book.original_file:
        original = books_root / book.original_file
        extra += original.stat().st_size if original.exists() else 0
    return estimate(job.format, stats, job.speed, pauses, extra)


def _size(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def free_bytes(path: Path) -> int:
    path.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(path).free


def check_disk(need: int, root: Path, reserve: int) -> None:
    """Refuse (507) what would leave less than `reserve` free on the disk that holds `root`."""
    available = free_bytes(root)
    if need > available - reserve:
        raise InsufficientStorage(
            DISK_FULL.format(need=_size(need), free=_size(available), reserve=_size(reserve)),
            code="insufficient_storage",
        )


def active_jobs(db: Session) -> list[ExportJob]:
    return list(db.scalars(select(ExportJob).where(ExportJob.status.in_(RENDER_ACTIVE))))


def check_quota(db: Session, user_id: str, need: int, quota: int, pending: int) -> None:
    """Refuse (507) an export that would take the user's exports past `quota` (0: none).
    `pending` is what the user's queued and running exports are estimated to take."""
    if not quota:
        return
    done = db.scalar(
        select(func.coalesce(func.sum(ExportJob.bytes), 0)).where(
            ExportJob.user_id == user_id, ExportJob.status == RENDER_DONE
        )
    )
    used = int(done or 0) + pending
    if used + need > quota:
        raise InsufficientStorage(
            OVER_QUOTA.format(need=_size(need), quota=_size(quota), used=_size(used)),
            code="export_quota_exceeded",
        )


@dataclass(frozen=True)
class Room:
    """Where exports are written and the limits they keep to."""

    root: Path
    books_root: Path
    pauses: Pauses
    reserve: int
    quota: int


def check_new_export(db: Session, job: ExportJob, room: Room) -> SizeEstimate:
    """Before a job is queued: the user's quota, then the disk, counting the exports queued or
    running already (every user's, for the disk)."""
    size = job_estimate(db, job, room.pauses, room.books_root)
    others = [
        (j.user_id, job_estimate(db, j, room.pauses, room.books_root)) for j in active_jobs(db)
    ]
    mine = sum(s.output for user_id, s in others if user_id == job.user_id)
    check_quota(db, job.user_id, size.output, room.quota, mine)
    check_disk(size.peak + sum(s.peak for _, s in others), room.root, room.reserve)
    return size
