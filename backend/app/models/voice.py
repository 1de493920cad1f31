"""A user's cloned voice: metadata, status and the inference service's quality report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime
from app.models.user import new_id, utcnow

VOICE_PROCESSING = "processing"
VOICE_READY = "ready"
VOICE_FAILED = "failed"


class Voice(Base):
    __tablename__ = "voices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16), default="en")
    status: Mapped[str] = mapped_column(String(16), default=VOICE_PROCESSING)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What the inference service answered; part of the audio cache key.
    conditioning_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # File name (not a path) under DATA_DIR/uploads/voices.
    upload_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    consent: Mapped[VoiceConsent | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


CONSENT_SPOKEN = "spoken"  # the speaker read the consent sentence in the recording (checked)
CONSENT_ATTESTED = "attested"  # the uploader confirmed the speaker's consent
CONSENT_METHODS = (CONSENT_SPOKEN, CONSENT_ATTESTED)


class VoiceConsent(Base):
    """Who gave consent to clone a voice, when and how; one record per voice."""

    __tablename__ = "voice_consents"

    voice_id: Mapped[str] = mapped_column(
        ForeignKey("voices.id", ondelete="CASCADE"), primary_key=True
    )
    # The account that uploaded the recording and gave (or attested) the consent.
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    # The name said (spoken) or the voice's name (attested).
    name: Mapped[str] = mapped_column(String(100))
    # Spoken: what the inference service heard in the recording.
    transcript: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Spoken: speaker similarity of the consent sentence to the rest of the recording.
    speaker_similarity: Mapped[float | None] = mapped_column(Float, nullable=True)
    audio_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
