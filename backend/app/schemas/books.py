"""Request and response bodies of the books API (docs/API.md, issue 5)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from app.schemas.text import Name, Text
from app.services.books.segment import is_valid_language

MAX_PASTED_CHARS = 5_000_000


class PastedBook(BaseModel):
    title: Name = Field(min_length=1, max_length=300)
    text: Text = Field(min_length=1, max_length=MAX_PASTED_CHARS)
    language: str = Field(default="en", max_length=35)

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the title is empty: give the text a title")
        return value.strip()

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the text is empty: paste something to read")
        return value

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str) -> str:
        if not is_valid_language(value):
            raise ValueError("use a language code such as 'en', 'de' or 'pt-BR'")
        return value


class ChapterSummary(BaseModel):
    id: str
    title: str
    index: int
    front_matter: bool
    sentence_count: int


class BookDetail(BaseModel):
    id: str
    title: str
    author: str | None
    language: str
    chapters: list[ChapterSummary]
    cover_url: str | None


class Progress(BaseModel):
    chapter_id: str | None
    sentence_id: str | None
    updated_at: datetime | None


class ProgressSummary(Progress):
    fraction: float = Field(
        description="Share of the book's sentences before the current one, 0..1"
    )


class BookListItem(BaseModel):
    id: str
    title: str
    author: str | None
    language: str
    cover_url: str | None
    chapter_count: int
    progress: ProgressSummary | None


class SentenceOut(BaseModel):
    id: str
    text: str


class ParagraphOut(BaseModel):
    id: str
    sentences: list[SentenceOut]


class ChapterDetail(BaseModel):
    id: str
    title: str
    index: int
    front_matter: bool
    paragraphs: list[ParagraphOut]
    prev_chapter_id: str | None
    next_chapter_id: str | None


class ProgressUpdate(BaseModel):
    chapter_id: Name = Field(min_length=1, max_length=64)
    sentence_id: Name = Field(min_length=1, max_length=64)
