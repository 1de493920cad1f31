"""Importing into the library: vet and parse a file, split sentences, then store it.

On SQLite a book's rows are staged in short transactions and the book appears, whole, when
its `books` row is committed (see stage_rows); on other databases it is one transaction.

The original upload is kept under `uploads/books/{book_id}.{epub|txt}` (server-chosen name);
it is moved there with os.replace only once the book parsed, and removed again if the
database commit fails, so a failed import never leaves half a book behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, insert, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import affected_rows
from app.core.files import fsync_file, fsync_replace
from app.models.book import Book, BookCover, Chapter, Paragraph, Sentence
from app.models.user import new_id
from app.services.books.epub import parse_epub
from app.services.books.fragments import join_unspeakable
from app.services.books.parsed import BookImportError, ImportDeadline, ParsedBook, text_too_long
from app.services.books.safety import ArchiveLimits, FileKind, sniff_kind, vet_epub_archive
from app.services.books.segment import split_sentences
from app.services.books.text import decode_text, parse_text

log = logging.getLogger("ownvoice.books")
INCOMING_PREFIX = ".incoming-"  # temp uploads of versions before one reader; swept at start
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
        max_member_bytes=settings.max_book_member_bytes,
    )


def import_deadline(settings: Settings) -> ImportDeadline:
    return ImportDeadline(settings.book_import_timeout_s)


def parse_upload(
    upload: UploadedBook, settings: Settings, deadline: ImportDeadline | None = None
) -> tuple[ParsedBook, FileKind]:
    kind = sniff_kind(upload.path, upload.claimed_epub)
    try:
        return _parse_kind(upload, kind, settings, deadline or import_deadline(settings)), kind
    except BookImportError:
        raise
    except Exception as exc:  # a parser bug on an odd file must still answer clearly, not 500
        log.exception("book import failed", extra={"kind": kind.value})
        raise BookImportError(
            422,
            f"This {'EPUB' if kind is FileKind.EPUB else 'text file'} could not be read "
            f"({type(exc).__name__}). Check the file, or export it again.",
        ) from exc


def _parse_kind(
    upload: UploadedBook, kind: FileKind, settings: Settings, deadline: ImportDeadline
) -> ParsedBook:
    if kind is FileKind.EPUB:
        vet_epub_archive(upload.path, archive_limits(settings))
        parsed = parse_epub(
            upload.path,
            fallback_title=upload.display_stem,
            max_chars=settings.max_book_text_chars,
            deadline=deadline,
        )
        if upload.title:
            parsed.title = upload.title
    else:
        text = decode_text(upload.path.read_bytes())  # size already capped by the upload limit
        parsed = parse_text(text, upload.title, upload.language, fallback_title=upload.display_stem)
    return parsed


@dataclass
class BookRows:
    """A parsed book as rows, ids assigned, sentences split: ready for one quick bulk insert."""

    book_id: str
    chapters: list[dict[str, Any]]
    paragraphs: list[dict[str, Any]]
    sentences: list[dict[str, Any]]


def paragraph_sentences(paragraph: str, language: str) -> list[str]:
    """The paragraph's sentences, none of them without something to say (fragments.py)."""
    return join_unspeakable(split_sentences(paragraph, language), " ".join(paragraph.split()))


def book_rows(parsed: ParsedBook, deadline: ImportDeadline | None = None) -> BookRows:
    """Split every paragraph into sentences (the slow part: done before any transaction opens)."""
    rows = BookRows(book_id=new_id(), chapters=[], paragraphs=[], sentences=[])
    for parsed_chapter in parsed.chapters:
        chapter_id, first_position = new_id(), len(rows.sentences)
        for paragraph_text in join_unspeakable(parsed_chapter.paragraphs):
            if deadline is not None:
                deadline.check()
            texts = paragraph_sentences(paragraph_text, parsed.language)
            if not texts:
                continue
            paragraph_id = new_id()
            rows.paragraphs.append(
                {"id": paragraph_id, "chapter_id": chapter_id, "index": len(rows.paragraphs)}
            )
            first = len(rows.sentences)  # read once: `position` is book-wide, in document order
            rows.sentences.extend(
                [
                    {
                        "id": new_id(),
                        "book_id": rows.book_id,
                        "chapter_id": chapter_id,
                        "paragraph_id": paragraph_id,
                        "index": index,
                        "position": first + index,
                        "text": text,
                    }
                    for index, text in enumerate(texts)
                ]
            )
        count = len(rows.sentences) - first_position
        if count:  # a chapter with nothing to read is left out
            rows.chapters.append(
                {
                    "id": chapter_id,
                    "book_id": rows.book_id,
                    "index": len(rows.chapters),
                    "title": parsed_chapter.title[:300],
                    "front_matter": parsed_chapter.front_matter,
                    "sentence_count": count,
                }
            )
    return rows


def _check_text_size(parsed: ParsedBook, limit: int) -> None:
    chars = sum(len(p) for chapter in parsed.chapters for p in chapter.paragraphs)
    if chars > limit:
        raise text_too_long(chars, limit)


STAGE_ROWS = 2000  # rows per short transaction while a book is staged (SQLite)


def save_book(
    db: Session,
    user_id: str,
    parsed: ParsedBook,
    source_format: str,
    original: Path | None,
    settings: Settings,
    deadline: ImportDeadline | None = None,
) -> Book:
    _check_text_size(parsed, settings.max_book_text_chars)
    rows = book_rows(parsed, deadline or import_deadline(settings))
    if not rows.sentences:
        raise BookImportError(422, "This book has no text to read.")
    if original is not None:
        fsync_file(original)  # the slow part of publishing it, before any lock is taken
    book = Book(
        id=rows.book_id,
        user_id=user_id,
        title=parsed.title[:300] or "Untitled",
        author=parsed.author[:300] if parsed.author else None,
        language=parsed.language,
        source_format=source_format,
        sentence_count=len(rows.sentences),
    )
    staged = _is_sqlite(db)
    stored: Path | None = None
    try:
        if staged:
            stage_rows(db.get_bind().engine, rows)
        db.add(book)
        db.flush()
        if not staged:
            _insert_rows(db, rows)
        if parsed.cover is not None:
            db.add(
                BookCover(
                    book_id=book.id, media_type=parsed.cover.media_type, data=parsed.cover.data
                )
            )
        if original is not None:
            stored = books_dir(settings) / f"{book.id}{original.suffix}"
            fsync_replace(original, stored)
            book.original_file = stored.name
        db.commit()
    except BaseException:
        db.rollback()
        if staged:
            _remove_staged(db)
        if stored is not None:
            with contextlib.suppress(FileNotFoundError):
                stored.unlink()
        raise
    return book


def _is_sqlite(db: Session) -> bool:
    return db.get_bind().dialect.name == "sqlite"


def _insert_rows(db: Session, rows: BookRows) -> None:
    for table, table_rows in (
        (Chapter, rows.chapters),
        (Paragraph, rows.paragraphs),
        (Sentence, rows.sentences),
    ):
        db.execute(insert(table), table_rows)


def stage_rows(engine: Engine, rows: BookRows) -> None:
    """Insert a book's chapters, paragraphs and sentences in short transactions, before its
    `books` row exists: SQLite has one writer at a time, and one transaction for 270,000
    sentences held the write lock for 40 s, so every other write (progress, keys, voices)
    waited past its busy timeout and failed. Until the `books` row is committed the staged
    rows are unreachable (every query starts from a user's book); a crash leaves them
    orphaned and `remove_unfinished_imports` deletes them at the next start. Foreign keys
    are off on this one connection only, because the rows point at the book to come."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction: it applies
        try:
            for table, table_rows in (
                (Chapter, rows.chapters),
                (Paragraph, rows.paragraphs),
                (Sentence, rows.sentences),
            ):
                for start in range(0, len(table_rows), STAGE_ROWS):
                    conn.execute(
                        insert(cast(Table, table.__table__)), table_rows[start : start + STAGE_ROWS]
                    )
                    conn.commit()
        finally:
            conn.rollback()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")  # before it goes back to the pool


def _remove_staged(db: Session) -> None:
    try:
        remove_unfinished_imports(db)
    except Exception:  # e.g. the disk is still full: the next start removes them
        db.rollback()
        log.exception("could not remove a failed import's rows")


def remove_unfinished_imports(db: Session) -> int:
    """Delete what an import staged but never published (a crash, a failed commit): chapters
    without a book; their paragraphs and sentences go with them (ON DELETE CASCADE)."""
    result = db.execute(delete(Chapter).where(Chapter.book_id.not_in(select(Book.id))))
    db.commit()
    return affected_rows(result)


def import_upload(db: Session, user_id: str, upload: UploadedBook, settings: Settings) -> Book:
    deadline = import_deadline(settings)
    parsed, kind = parse_upload(upload, settings, deadline)
    original = upload.path.with_suffix(SUFFIX[kind])
    os.replace(upload.path, original)
    upload.path = original
    return save_book(db, user_id, parsed, kind.value, original, settings, deadline)


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
        select(Sentence)
        .join(Chapter, Chapter.id == Sentence.chapter_id)
        .where(Sentence.book_id == book_id, Chapter.front_matter.is_(False))
        .order_by(Sentence.position)
        .limit(1)
    )
    return body_first or db.scalar(
        select(Sentence).where(Sentence.book_id == book_id).order_by(Sentence.position).limit(1)
    )
