"""A render job: fill the audio cache ahead of listening, for one chapter or a whole book.

The job belongs to the book's owner and goes when the book (or chapter) goes. `voice_id` is
the real voice (never `custom_user_voice`), so the job renders what was asked for even if the
user's default voice changes meanwhile.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime
from app.models.user import new_id, utcnow

RENDER_QUEUED = "queued"
RENDER_RUNNING = "running"
RENDER_DONE = "done"
RENDER_FAILED = "failed"
RENDER_CANCELLED = "cancelled"
RENDER_ACTIVE = (RENDER_QUEUED, RENDER_RUNNING)


class RenderJob(Base):
    __tablename__ = "render_jobs"
    __table_args__ = (Index("ix_render_jobs_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    book_id: Mapped[str] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    chapter_id: Mapped[str | None] = mapped_column(
        ForeignKey("chapters.id", ondelete="CASCADE"), nullable=True
    )  # None: the whole book
    voice_id: Mapped[str] = mapped_column(String(128))
    speed: Mapped[float] = mapped_column(Float, default=1.0)
    status: Mapped[str] = mapped_column(String(16), default=RENDER_QUEUED)
    total: Mapped[int] = mapped_column(Integer, default=0)  # sentences
    done: Mapped[int] = mapped_column(Integer, default=0)  # of them in the cache now
    cached: Mapped[int] = mapped_column(Integer, default=0)  # of them cached before the job ran
    # Of them, passed over: nothing speakable in them (the speech service refused the text).
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The app server working on it while running, until when (app.services.renders: leases).
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # What was heard of the sentences this job rendered (app.services.quality.Tally, as JSON).
    verification_json: Mapped[str | None] = mapped_column("verification", Text, nullable=True)
