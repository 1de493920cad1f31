"""Books API: import (EPUB, text file, pasted text), library, chapters, cover, reading progress.

An uploaded file is read by the one streamed, size-capped upload reader (app.services.uploads,
limits from app.core.limits.UPLOADS); pasted text is read with a byte counter. Either way an
oversized body is refused (413) as soon as it passes the limit, and never held in memory.
Parsing and storing run in a small pool of worker threads (app.services.books.imports).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.deps import CurrentUser, OwnedBook, SessionDep, SettingsDep, read_capped_body
from app.api.error_shapes import validation_details
from app.core.config import Settings
from app.models.book import Book, BookCover, Chapter, ReadingProgress, Sentence
from app.models.user import utcnow
from app.schemas.books import (
    BookDetail,
    BookListItem,
    ChapterDetail,
    ChapterSummary,
    ParagraphOut,
    PastedBook,
    Progress,
    ProgressSummary,
    ProgressUpdate,
    SentenceOut,
)
from app.services.books import imports, store
from app.services.exports.jobs import book_export_ids, remove_export_files

router = APIRouter(prefix="/api/books", tags=["books"], responses={401: {}, 404: {}})

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "An EPUB (2 or 3, DRM-free) or a UTF-8 text file",
                        },
                        "title": {"type": "string"},
                        "language": {"type": "string"},
                    },
                }
            },
            "application/json": {"schema": PastedBook.model_json_schema()},
        },
    }
}


# ---------- helpers ----------


def _cover_url(book_id: str, has_cover: bool) -> str | None:
    return f"/api/books/{book_id}/cover" if has_cover else None


def _has_cover(db: Session, book_id: str) -> bool:
    return db.scalar(select(BookCover.book_id).where(BookCover.book_id == book_id)) is not None


def _book_detail(db: Session, book: Book) -> BookDetail:
    chapters = db.scalars(select(Chapter).where(Chapter.book_id == book.id).order_by(Chapter.index))
    return BookDetail(
        id=book.id,
        title=book.title,
        author=book.author,
        language=book.language,
        chapters=[
            ChapterSummary(
                id=c.id,
                title=c.title,
                index=c.index,
                front_matter=c.front_matter,
                sentence_count=c.sentence_count,
            )
            for c in chapters
        ],
        cover_url=_cover_url(book.id, _has_cover(db, book.id)),
    )


# ---------- import ----------


async def _receive_pasted(request: Request, settings: Settings) -> PastedBook:
    limit = settings.max_book_upload_bytes
    too_large = f"This upload is larger than {limit // (1024 * 1024)} MB: upload a smaller file."
    body = await read_capped_body(request, limit, too_large)
    try:
        return PastedBook.model_validate(json.loads(body))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="The body is not valid JSON: send {title, text, language}.",
        ) from exc
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=validation_details(exc.errors())
        ) from exc


async def _import(request: Request, db: Session, user_id: str, settings: Settings) -> Book:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        upload = await imports.receive_book_file(request, settings)
        return await imports.import_file(db, user_id, upload, settings)
    if content_type.startswith("application/json"):
        pasted = await _receive_pasted(request, settings)
        return await imports.import_pasted(
            db, user_id, pasted.title, pasted.text, pasted.language, settings
        )
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        detail="Send a book as multipart/form-data (field 'file') or pasted text as "
        "application/json {title, text, language}.",
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses={413: {}, 415: {}, 422: {}},
)
async def create_book(
    request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> BookDetail:
    """Import an EPUB or text file (multipart `file`) or pasted text (JSON `{title, text, language}`)."""
    book = await _import(request, db, user.id, settings)  # 4xx: BookImportError, upload errors
    return await imports.in_import_pool(_book_detail, db, book)


# ---------- library ----------


@router.get("")
def list_books(user: CurrentUser, db: SessionDep) -> list[BookListItem]:
    chapter_counts = (
        select(Chapter.book_id, func.count().label("n")).group_by(Chapter.book_id).subquery()
    )
    rows = db.execute(
        select(Book, chapter_counts.c.n, BookCover.book_id, ReadingProgress, Sentence.position)
        .outerjoin(chapter_counts, chapter_counts.c.book_id == Book.id)
        .outerjoin(BookCover, BookCover.book_id == Book.id)
        .outerjoin(
            ReadingProgress,
            (ReadingProgress.book_id == Book.id) & (ReadingProgress.user_id == user.id),
        )
        .outerjoin(Sentence, Sentence.id == ReadingProgress.sentence_id)
        .where(Book.user_id == user.id)
        .order_by(Book.created_at.desc())
    ).all()
    return [
        BookListItem(
            id=book.id,
            title=book.title,
            author=book.author,
            language=book.language,
            cover_url=_cover_url(book.id, cover_id is not None),
            chapter_count=n or 0,
            progress=None
            if progress is None
            else ProgressSummary(
                chapter_id=progress.chapter_id,
                sentence_id=progress.sentence_id,
                updated_at=progress.updated_at,
                fraction=round((position or 0) / max(book.sentence_count, 1), 4),
            ),
        )
        for book, n, cover_id, progress, position in rows
    ]


@router.get("/{book_id}")
def get_book(book: OwnedBook, db: SessionDep) -> BookDetail:
    return _book_detail(db, book)


@router.delete("/{book_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_book(
    book: OwnedBook, request: Request, db: SessionDep, settings: SettingsDep
) -> Response:
    exports = book_export_ids(db, book.id)
    store.delete_book(db, book, settings)
    for job_id in exports:  # a running one stops at its next step: its rows are gone
        remove_export_files(request.app.state.exports.root, job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{book_id}/cover",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, 404: {}},
)
def get_cover(book: OwnedBook, db: SessionDep) -> Response:
    cover = db.get(BookCover, book.id)
    if cover is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="This book has no cover image.")
    return Response(
        cover.data,
        media_type=cover.media_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/{book_id}/chapters/{chapter_id}")
def get_chapter(book: OwnedBook, chapter_id: str, db: SessionDep) -> ChapterDetail:
    chapter = db.get(Chapter, chapter_id)
    if chapter is None or chapter.book_id != book.id:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail="No such chapter in this book: reload the book's chapter list.",
        )
    return ChapterDetail(
        id=chapter.id,
        title=chapter.title,
        index=chapter.index,
        front_matter=chapter.front_matter,
        paragraphs=_paragraphs(db, chapter.id),
        prev_chapter_id=_neighbour(db, book.id, chapter.index - 1),
        next_chapter_id=_neighbour(db, book.id, chapter.index + 1),
    )


def _paragraphs(db: Session, chapter_id: str) -> list[ParagraphOut]:
    rows = db.execute(
        select(Sentence.paragraph_id, Sentence.id, Sentence.text)
        .where(Sentence.chapter_id == chapter_id)
        .order_by(Sentence.position)
    ).all()
    paragraphs: list[ParagraphOut] = []
    for paragraph_id, sentence_id, text in rows:
        if not paragraphs or paragraphs[-1].id != paragraph_id:
            paragraphs.append(ParagraphOut(id=paragraph_id, sentences=[]))
        paragraphs[-1].sentences.append(SentenceOut(id=sentence_id, text=text))
    return paragraphs


def _neighbour(db: Session, book_id: str, index: int) -> str | None:
    if index < 0:
        return None
    return db.scalar(select(Chapter.id).where(Chapter.book_id == book_id, Chapter.index == index))


# ---------- progress ----------


@router.get("/{book_id}/progress")
def get_progress(book: OwnedBook, user: CurrentUser, db: SessionDep) -> Progress:
    """The saved position, or where to start (first sentence after front matter, updated_at null)."""
    saved = db.get(ReadingProgress, (user.id, book.id))
    if saved is not None:
        return Progress(
            chapter_id=saved.chapter_id, sentence_id=saved.sentence_id, updated_at=saved.updated_at
        )
    start = store.first_reading_position(db, book.id)
    return Progress(
        chapter_id=start.chapter_id if start else None,
        sentence_id=start.id if start else None,
        updated_at=None,
    )


@router.put("/{book_id}/progress", responses={404: {}, 422: {}})
def put_progress(
    book: OwnedBook, body: ProgressUpdate, user: CurrentUser, db: SessionDep
) -> Progress:
    sentence = db.get(Sentence, body.sentence_id)
    if sentence is None or sentence.book_id != book.id or sentence.chapter_id != body.chapter_id:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="chapter_id and sentence_id must name a sentence of that chapter "
            "in this book: reload the chapter and try again.",
        )
    saved = db.get(ReadingProgress, (user.id, book.id))
    if saved is None:
        saved = ReadingProgress(user_id=user.id, book_id=book.id)
        db.add(saved)
    saved.chapter_id, saved.sentence_id, saved.updated_at = (
        sentence.chapter_id,
        sentence.id,
        utcnow(),
    )
    db.commit()
    return Progress(
        chapter_id=saved.chapter_id, sentence_id=saved.sentence_id, updated_at=saved.updated_at
    )
