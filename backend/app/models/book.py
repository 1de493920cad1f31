"""Books as the reader sees them: book → chapters → paragraphs → sentences, plus reading progress.

Every row has an opaque random id; order comes from explicit index columns. Sentences carry
`book_id`, `chapter_id` and a book-wide `position` so that progress can be validated and
turned into a fraction without walking the tree. Deleting a book (or its user) cascades.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime
from app.models.user import new_id, utcnow


class Book(Base):
    __tablename__ = "books"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    author: Mapped[str | None] = mapped_column(String(300), nullable=True)
    language: Mapped[str] = mapped_column(String(16))
    source_format: Mapped[str] = mapped_column(String(16))  # epub | text | paste
    # Server-chosen file name of the original under uploads/books/ (never shown to clients).
    original_file: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sentence_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    chapters: Mapped[list[Chapter]] = relationship(
        back_populates="book",
        order_by="Chapter.index",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    cover: Mapped[BookCover | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select"
    )


class BookCover(Base):
    """Kept apart from `books` so that listing books never loads image bytes."""

    __tablename__ = "book_covers"

    book_id: Mapped[str] = mapped_column(
        ForeignKey("books.id", ondelete="CASCADE"), primary_key=True
    )
    media_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Chapter(Base):
    __tablename__ = "chapters"
    __table_args__ = (UniqueConstraint("book_id", "index", name="uq_chapters_book_index"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    book_id: Mapped[str] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    front_matter: Mapped[bool] = mapped_column(Boolean, default=False)
    sentence_count: Mapped[int] = mapped_column(Integer, default=0)

    book: Mapped[Book] = relationship(back_populates="chapters")


class Paragraph(Base):
    __tablename__ = "paragraphs"
    __table_args__ = (Index("ix_paragraphs_chapter_index", "chapter_id", "index"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    chapter_id: Mapped[str] = mapped_column(ForeignKey("chapters.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)


class Sentence(Base):
    __tablename__ = "sentences"
    __table_args__ = (
        Index("ix_sentences_chapter_position", "chapter_id", "position"),
        Index("ix_sentences_book_id", "book_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    book_id: Mapped[str] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    chapter_id: Mapped[str] = mapped_column(ForeignKey("chapters.id", ondelete="CASCADE"))
    paragraph_id: Mapped[str] = mapped_column(
        ForeignKey("paragraphs.id", ondelete="CASCADE"), index=True
    )
    index: Mapped[int] = mapped_column(Integer)  # within its paragraph
    position: Mapped[int] = mapped_column(Integer)  # within the whole book, from 0
    text: Mapped[str] = mapped_column(Text)


class ReadingProgress(Base):
    """Where one user is in one book: one row per (user, book)."""

    __tablename__ = "reading_progress"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    book_id: Mapped[str] = mapped_column(
        ForeignKey("books.id", ondelete="CASCADE"), primary_key=True
    )
    chapter_id: Mapped[str] = mapped_column(ForeignKey("chapters.id", ondelete="CASCADE"))
    sentence_id: Mapped[str] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
