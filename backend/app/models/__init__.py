"""ORM models. Import every model module here so Alembic sees the whole metadata."""

from app.core.db import Base
from app.models.book import Book, BookCover, Chapter, Paragraph, ReadingProgress, Sentence
from app.models.export_job import ExportJob
from app.models.render_job import RenderJob
from app.models.user import (
    ApiKey,
    AuthSession,
    LoginFailure,
    OpenStream,
    User,
    UserPreferences,
)
from app.models.voice import Voice, VoiceConsent

__all__ = [
    "Book",
    "BookCover",
    "Chapter",
    "ExportJob",
    "Paragraph",
    "ReadingProgress",
    "RenderJob",
    "Sentence",
    "ApiKey",
    "AuthSession",
    "LoginFailure",
    "OpenStream",
    "Base",
    "User",
    "UserPreferences",
    "Voice",
    "VoiceConsent",
]
