"""Request and response bodies of render jobs (docs/API.md, "Rendering ahead")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.text import Name


class RenderRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    voice_id: Name = Field(alias="voiceId", min_length=1, max_length=128)
    # The same range as POST /api/tts: a rendered sentence is the one the reader asks for.
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    chapter_id: Name | None = Field(
        default=None,
        alias="chapterId",
        min_length=1,
        max_length=64,
        description="The chapter to render; leave it out for the whole book.",
    )


class FailedSentence(BaseModel):
    sentence_id: str
    text: str
    cer: float | None = Field(description="Character error rate of its best take")
    takes: int | None = Field(description="Takes rendered before giving up")


class Verification(BaseModel):
    """What speech recognition heard of rendered sentences (docs/API.md, "Verification")."""

    checked: int = Field(0, description="Sentences heard")
    passed_first_take: int = Field(0, description="Of them, right on the first take")
    regenerated: int = Field(0, description="Of them, right on a later take")
    failed: int = Field(0, description="Of them, never right: kept with their best take")
    failed_sentences: list[FailedSentence] = Field(default_factory=list)


class RenderJob(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    book_id: str
    chapter_id: str | None
    voice_id: str
    speed: float
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    total: int = Field(description="Sentences to render")
    done: int = Field(description="Of them, in the audio cache now")
    cached: int = Field(description="Of them, already in the cache when the job started")
    skipped: int = Field(
        description="Of them, passed over because the speech service could not speak them "
        "(nothing speakable in the text); the job went on past them",
    )
    error: str | None
    verification: Verification = Field(
        default_factory=Verification,
        description="What was heard of the sentences this job rendered (not those already cached)",
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
