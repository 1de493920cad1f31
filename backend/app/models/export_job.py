"""An export job: a book (or some of its chapters) as an audiobook file to take away.

Its status moves like a render job's (queued → running → done | failed | cancelled). The
finished file lives under the data directory (`exports/<job id>/<file_name>`); `file_name`
is set when it is published and is never a path a client chose.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime
from app.models.render_job import RENDER_QUEUED
from app.models.user import new_id, utcnow

EXPORT_FORMATS = ("m4b", "mp3", "epub", "srt", "vtt")


class ExportJob(Base):
    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    book_id: Mapped[str] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(8))
    voice_id: Mapped[str] = mapped_column(String(128))  # the real voice, as for render jobs
    speed: Mapped[float] = mapped_column(Float, default=1.0)
    # The chapters to export, comma-separated ids in book order; None: every chapter.
    chapter_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=RENDER_QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0)  # sentences
    done: Mapped[int] = mapped_column(Integer, default=0)  # of them with audio in the cache
    cached: Mapped[int] = mapped_column(Integer, default=0)  # of them cached before it ran
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # of them with nothing to say
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # the finished file's size
    file_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The app server working on it while running, until when (app.services.renders: leases).
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
