"""Request and response bodies of the account routes: preferences, administration, cache."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.text import Name

SleepTimer = Literal["off", "15", "30", "45", "60", "chapter"]


class Preferences(BaseModel):
    """A user's reader preferences, the same in every browser they sign in from."""

    voice_id: Name = Field(default="custom_user_voice", min_length=1, max_length=128)
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    font_scale: float = Field(default=1.0, ge=0.8, le=1.6)
    sleep_timer: SleepTimer = Field(
        default="off", description="The sleep timer a new listening session starts with."
    )


class PreferencesPatch(BaseModel):
    """A partial update: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    voice_id: Name | None = Field(default=None, min_length=1, max_length=128)
    speed: float | None = Field(default=None, ge=0.5, le=2.0)
    font_scale: float | None = Field(default=None, ge=0.8, le=1.6)
    sleep_timer: SleepTimer | None = None


class AdminUserOut(BaseModel):
    id: str
    username: str
    is_admin: bool
    disabled: bool
    created_at: datetime


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool | None = None
    is_admin: bool | None = None


class PasswordReset(BaseModel):
    new_password: str = Field(min_length=8, max_length=1024)


class CacheStatus(BaseModel):
    size_bytes: int = Field(description="Bytes of audio in the cache now")
    max_bytes: int | None = Field(description="The cap (OWNVOICE_AUDIO_CACHE_MAX_BYTES), if any")
    entries: int


class Integrations(BaseModel):
    elevenlabs_configured: bool = Field(
        description="Whether ELEVENLABS_API_KEY is set on the server (the key is never shown)"
    )
