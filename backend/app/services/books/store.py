"""Importing into the library: vet and parse a file, split sentences, store it all in one transaction.

The original upload is kept under `uploads/books/{book_id}.{epub|txt}` (server-chosen name);
it is moved there with os.replace only once the book parsed, and removed again if the
database commit fails, so a failed import never leaves half a book behind.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models.book import Book, BookCover, Chapter, Paragraph, Sentence
from app.models.user import new_id
from app.services.books.epub import parse_epub
from app.services.books.parsed import ParsedBook
from app.services.books.safety import ArchiveLimits, FileKind, sniff_kind, vet_epub_archive
from app.services.books.segment import split_sentences
from app.services.books.text import decode_text, parse_text

SUFFIX = {FileKind.EPUB: ".epub", FileKind.TEXT: ".txt"}


@dataclass
class UploadedBook:
    """A streamed upload already on disk, with what the client said about it."""

    path: Path
    filename: str | None
    content_type: str | None
    title: str | None = None
    language: str | None = None

    @property
    def claimed_epub(self) -> bool:
        name = (self.filename or "").lower()
        return name.endswith(".epub") or (self.content_type or "").startswith("application/epub")

    @property
    def display_stem(self) -> str:
        """A title fallback from the client's file name (display text only, never a path)."""
        name = os.path.basename((self.filename or "").replace("\\", "/"))
        return os.path.splitext(name)[0].replace("_", " ").strip() or "Untitled"


def books_dir(settings: Settings) -> Path:
    path = settings.resolved_data_dir / "uploads" / "books"
    path.mkdir(parents=True, exist_ok=True)
    return path


def archive_limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_uncompressed_bytes=settings.max_book_uncompressed_bytes,
        max_members=settings.max_book_archive_members,
        max_ratio=settings.max_book_compression_ratio,
    )


def parse_upload(upload: UploadedBook, settings: Settings) -> tuple[ParsedBook, FileKind]:
    kind = sniff_kind(upload.path, upload.claimed_epub)
    if kind is FileKind.EPUB:
        vet_epub_archive(upload.path, archive_limits(settings))
        parsed = parse_epub(upload.path, fallback_title=upload.display_stem)
        if upload.title:
            parsed.title = upload.title
    else:
        text = decode_text(upload.path.read_bytes())  # size already capped by the upload limit
        parsed = parse_text(text, upload.title, upload.language, fallback_title=upload.display_stem)
    return parsed, kind


def _insert_contents(db: Session, book: Book, parsed: ParsedBook) -> int:
    """Bulk-insert chapters, paragraphs and sentences; returns the book's sentence count."""
    position = 0
    chapters, paragraphs, sentences = [], [], []
    for chapter_index, parsed_chapter in enumerate(parsed.chapters):
        chapter = {"id": new_id(), "book_id": book.id, "index": chapter_index,
                   "title": parsed_chapter.title[:300], "front_matter": parsed_chapter.front_matter}
        first_position = position
        for paragraph_text in parsed_chapter.paragraphs:
            texts = split_sentences(paragraph_text, parsed.language)
            if not texts:
                continue
            paragraph_id = new_id()
            paragraphs.append({"id": paragraph_id, "chapter_id": chapter["id"], "index": len(paragraphs)})
            for sentence_index, text in enumerate(texts):
                sentences.append({"id": new_id(), "book_id": book.id, "chapter_id": chapter["id"],
                                  "paragraph_id": paragraph_id, "index": sentence_index,
                                  "position": position, "text": text})
                position += 1
        chapter["sentence_count"] = position - first_position
        if chapter["sentence_count"]:
            chapter["index"] = len(chapters)
            chapters.append(chapter)
    for table, rows in ((Chapter, chapters), (Paragraph, paragraphs), (Sentence, sentences)):
        if rows:
            db.execute(insert(table), rows)
    return position


def save_book(
    db: Session, user_id: str, parsed: ParsedBook, source_format: str, original: Path | None,
    settings: Settings,
) -> Book:
    book = Book(id=new_id(), user_id=user_id, title=parsed.title[:300] or "Untitled",
                author=(parsed.author or None) and parsed.author[:300],
                language=parsed.language, source_format=source_format)
    db.add(book)
    db.flush()
    book.sentence_count = _insert_contents(db, book, parsed)
    if parsed.cover is not None:
        db.add(BookCover(book_id=book.id, media_type=parsed.cover.media_type, data=parsed.cover.data))
    stored: Path | None = None
    try:
        if original is not None:
            stored = books_dir(settings) / f"{book.id}{original.suffix}"
            os.replace(original, stored)
            book.original_file = stored.name
        db.commit()
    except BaseException:
        db.rollback()
        if stored is not None:
            with contextlib.suppress(FileNotFoundError):
                stored.unlink()
        raise
    return book


def import_upload(db: Session, user_id: str, upload: UploadedBook, settings: Settings) -> Book:
    parsed, kind = parse_upload(upload, settings)
    original = upload.path.with_suffix(SUFFIX[kind])
    os.replace(upload.path, original)
    upload.path = original
    return save_book(db, user_id, parsed, kind.value, original, settings)


def import_pasted(
    db: Session, user_id: str, title: str, text: str, language: str, settings: Settings
) -> Book:
    parsed = parse_text(text.replace("\r\n", "\n"), title, language, fallback_title=title)
    return save_book(db, user_id, parsed, "paste", None, settings)


def delete_book(db: Session, book: Book, settings: Settings) -> None:
    original = book.original_file
    db.execute(delete(Book).where(Book.id == book.id))
    db.commit()
    if original:
        with contextlib.suppress(FileNotFoundError):
            (books_dir(settings) / original).unlink()


def first_reading_position(db: Session, book_id: str) -> Sentence | None:
    """Where a new reader starts: the first sentence after the front matter (or at all)."""
    body_first = db.scalar(
        select(Sentence).join(Chapter, Chapter.id == Sentence.chapter_id)
        .where(Sentence.book_id == book_id, Chapter.front_matter.is_(False))
        .order_by(Sentence.position).limit(1)
    )
    return body_first or db.scalar(
        select(Sentence).where(Sentence.book_id == book_id).order_by(Sentence.position).limit(1)
    )
