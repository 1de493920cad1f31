"""Request and response bodies of export jobs (docs/API.md, "Exports")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from app.models.user import utcnow
from app.schemas.text import Name


class ExportRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    format: Literal["m4b", "mp3", "epub", "srt", "vtt"] = Field(
        description="m4b: one audiobook with chapter marks; mp3: a zip of one MP3 per chapter; "
        "epub: an EPUB 3 read-along (media overlays); srt / vtt: a zip of one subtitle file "
        "per chapter"
    )
    voice_id: Name = Field(alias="voiceId", min_length=1, max_length=128)
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    chapter_ids: list[Name] | None = Field(
        default=None,
        alias="chapterIds",
        min_length=1,
        max_length=5000,
        description="The chapters to export, in any order (they come out in book order); "
        "leave it out for the whole book.",
    )


class ExportJob(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    book_id: str
    format: str
    voice_id: str
    speed: float
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    total: int = Field(description="Sentences to export")
    done: int = Field(description="Of them, with audio in the cache now")
    cached: int = Field(description="Of them, already in the cache when the job started")
    skipped: int = Field(description="Of them, passed over: nothing speakable in the text")
    bytes: int = Field(description="The finished file's size (0 until it is done)")
    file_name: str | None = Field(description="The finished file's name, for the download")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @computed_field(description="Seconds until the audio is rendered, at the rate so far")  # type: ignore[prop-decorator]
    @property
    def eta_s(self) -> float | None:
        rendered = self.done - self.cached
        if self.status != "running" or self.started_at is None or rendered <= 0:
            return None
        elapsed = (utcnow() - self.started_at).total_seconds()
        return round(elapsed / rendered * (self.total - self.done), 1)
