"""Books API: import (EPUB, text file, pasted text), library, chapters, cover, reading progress.

Uploads are read from the request stream with a byte counter, so an oversized body is
refused (413) as soon as it passes the limit, and never held in memory. Parsing and storing
run in a small pool of worker threads (IMPORT_THREADS at once, the rest wait their turn): a
large book never blocks the event loop, and many imports at once cannot take every CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import weakref
from collections.abc import AsyncGenerator
from pathlib import Path

import anyio
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from app.api.deps import CurrentUser, SessionDep, SettingsDep
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
from app.services.books import store
from app.services.books.parsed import BookImportError

router = APIRouter(prefix="/api/books", tags=["books"], responses={401: {}, 404: {}})

MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small title/language fields
COPY_CHUNK = 1 << 20
NOT_FOUND = "No such book in your library: it may have been deleted. Reload your library."
IMPORT_THREADS = 2
_import_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "An EPUB (2 or 3, DRM-free) or a UTF-8 text file"},
                "title": {"type": "string"}, "language": {"type": "string"}}}},
            "application/json": {"schema": PastedBook.model_json_schema()},
        },
    }
}


# ---------- helpers ----------

def _too_large(settings: Settings) -> HTTPException:
    limit_mb = settings.max_book_upload_bytes // (1024 * 1024)
    return HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                         detail=f"This upload is larger than {limit_mb} MB: upload a smaller file.")


def _refuse_declared_oversize(request: Request, limit: int, settings: Settings) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(settings)


async def _capped_stream(request: Request, limit: int,
                         settings: Settings) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(settings)
        yield chunk


def _cover_url(book_id: str, has_cover: bool) -> str | None:
    return f"/api/books/{book_id}/cover" if has_cover else None


def _has_cover(db: Session, book_id: str) -> bool:
    return db.scalar(select(BookCover.book_id).where(BookCover.book_id == book_id)) is not None


def _owned_book(db: Session, user_id: str, book_id: str) -> Book:
    book = db.get(Book, book_id)
    if book is None or book.user_id != user_id:  # another user's book is simply not there
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
    return book


def _book_detail(db: Session, book: Book) -> BookDetail:
    chapters = db.scalars(select(Chapter).where(Chapter.book_id == book.id).order_by(Chapter.index))
    return BookDetail(
        id=book.id, title=book.title, author=book.author, language=book.language,
        chapters=[ChapterSummary(id=c.id, title=c.title, index=c.index, front_matter=c.front_matter,
                                 sentence_count=c.sentence_count) for c in chapters],
        cover_url=_cover_url(book.id, _has_cover(db, book.id)),
    )


async def _in_import_pool(func, *args):  # noqa: ANN001, ANN202 - a thin run_sync wrapper
    """Run CPU-heavy import work off the event loop, at most IMPORT_THREADS at a time."""
    loop = asyncio.get_running_loop()  # anyio ties a limiter to the loop it was created in
    limiter = _import_limiters.get(loop)
    if limiter is None:
        limiter = _import_limiters[loop] = anyio.CapacityLimiter(IMPORT_THREADS)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


def _import_error(exc: BookImportError) -> HTTPException:
    return HTTPException(exc.status_code, detail=exc.message)


# ---------- import ----------

async def _receive_upload(request: Request, settings: Settings) -> store.UploadedBook:
    """Stream the multipart body; the file part lands in a temp file under uploads/books/."""
    limit = settings.max_book_upload_bytes + MULTIPART_OVERHEAD
    _refuse_declared_oversize(request, limit, settings)
    parser = MultiPartParser(request.headers, _capped_stream(request, limit, settings),
                             max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            detail=f"The upload could not be read ({exc.message}). Send the book as "
                                   "multipart field 'file'.") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                detail="No file in the upload: send the book as multipart field 'file'.")
        target = store.incoming_path(settings)
        size = await run_in_threadpool(_copy_to, upload, target)
        title, language = form.get("title"), form.get("language")
    finally:
        await form.close()
    if size > settings.max_book_upload_bytes:
        target.unlink(missing_ok=True)
        raise _too_large(settings)
    if size == 0:
        target.unlink(missing_ok=True)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail="The file is empty: choose a book file.")
    return store.UploadedBook(
        path=target, filename=upload.filename, content_type=upload.content_type,
        title=title.strip() if isinstance(title, str) and title.strip() else None,
        language=language.strip() if isinstance(language, str) and language.strip() else None,
    )


def _copy_to(upload: UploadFile, target: Path) -> int:
    upload.file.seek(0)
    try:
        with target.open("wb") as out:
            shutil.copyfileobj(upload.file, out, COPY_CHUNK)
    except BaseException:
        target.unlink(missing_ok=True)  # e.g. disk full: leave nothing half-written behind
        raise
    return target.stat().st_size


async def _receive_pasted(request: Request, settings: Settings) -> PastedBook:
    limit = settings.max_book_upload_bytes
    _refuse_declared_oversize(request, limit, settings)
    body = bytearray()
    async for chunk in _capped_stream(request, limit, settings):
        body += chunk
    try:
        return PastedBook.model_validate(json.loads(body))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail="The body is not valid JSON: send {title, text, language}.") from exc
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail=validation_details(exc.errors())) from exc


def _import_file(db: Session, user_id: str, upload: store.UploadedBook, settings: Settings) -> BookDetail:
    try:
        book = store.import_upload(db, user_id, upload, settings)
        return _book_detail(db, book)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if upload.path.name.startswith(store.INCOMING_PREFIX):
                upload.path.unlink()


def _import_pasted(db: Session, user_id: str, pasted: PastedBook, settings: Settings) -> BookDetail:
    book = store.import_pasted(db, user_id, pasted.title, pasted.text, pasted.language, settings)
    return _book_detail(db, book)


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=UPLOAD_BODY,
             responses={413: {}, 415: {}, 422: {}})
async def create_book(request: Request, user: CurrentUser, db: SessionDep,
                      settings: SettingsDep) -> BookDetail:
    """Import an EPUB or text file (multipart `file`) or pasted text (JSON `{title, text, language}`)."""
    content_type = request.headers.get("content-type", "").lower()
    try:
        if content_type.startswith("multipart/form-data"):
            upload = await _receive_upload(request, settings)
            return await _in_import_pool(_import_file, db, user.id, upload, settings)
        if content_type.startswith("application/json"):
            pasted = await _receive_pasted(request, settings)
            return await _in_import_pool(_import_pasted, db, user.id, pasted, settings)
    except BookImportError as exc:
        raise _import_error(exc) from exc
    raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                        detail="Send a book as multipart/form-data (field 'file') or pasted text as "
                               "application/json {title, text, language}.")


# ---------- library ----------

@router.get("")
def list_books(user: CurrentUser, db: SessionDep) -> list[BookListItem]:
    chapter_counts = (select(Chapter.book_id, func.count().label("n")).group_by(Chapter.book_id)
                      .subquery())
    rows = db.execute(
        select(Book, chapter_counts.c.n, BookCover.book_id, ReadingProgress, Sentence.position)
        .outerjoin(chapter_counts, chapter_counts.c.book_id == Book.id)
        .outerjoin(BookCover, BookCover.book_id == Book.id)
        .outerjoin(ReadingProgress, (ReadingProgress.book_id == Book.id)
                   & (ReadingProgress.user_id == user.id))
        .outerjoin(Sentence, Sentence.id == ReadingProgress.sentence_id)
        .where(Book.user_id == user.id)
        .order_by(Book.created_at.desc())
    ).all()
    return [
        BookListItem(
            id=book.id, title=book.title, author=book.author, language=book.language,
            cover_url=_cover_url(book.id, cover_id is not None), chapter_count=n or 0,
            progress=None if progress is None else ProgressSummary(
                chapter_id=progress.chapter_id, sentence_id=progress.sentence_id,
                updated_at=progress.updated_at,
                fraction=round((position or 0) / max(book.sentence_count, 1), 4)),
        )
        for book, n, cover_id, progress, position in rows
    ]


@router.get("/{book_id}")
def get_book(book_id: str, user: CurrentUser, db: SessionDep) -> BookDetail:
    return _book_detail(db, _owned_book(db, user.id, book_id))


@router.delete("/{book_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_book(book_id: str, user: CurrentUser, db: SessionDep, settings: SettingsDep) -> Response:
    store.delete_book(db, _owned_book(db, user.id, book_id), settings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{book_id}/cover", response_class=Response,
            responses={200: {"content": {"image/*": {}}}, 404: {}})
def get_cover(book_id: str, user: CurrentUser, db: SessionDep) -> Response:
    book = _owned_book(db, user.id, book_id)
    cover = db.get(BookCover, book.id)
    if cover is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="This book has no cover image.")
    return Response(cover.data, media_type=cover.media_type, headers={
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})


@router.get("/{book_id}/chapters/{chapter_id}")
def get_chapter(book_id: str, chapter_id: str, user: CurrentUser, db: SessionDep) -> ChapterDetail:
    book = _owned_book(db, user.id, book_id)
    chapter = db.get(Chapter, chapter_id)
    if chapter is None or chapter.book_id != book.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail="No such chapter in this book: reload the book's chapter list.")
    return ChapterDetail(
        id=chapter.id, title=chapter.title, index=chapter.index, front_matter=chapter.front_matter,
        paragraphs=_paragraphs(db, chapter.id),
        prev_chapter_id=_neighbour(db, book.id, chapter.index - 1),
        next_chapter_id=_neighbour(db, book.id, chapter.index + 1),
    )


def _paragraphs(db: Session, chapter_id: str) -> list[ParagraphOut]:
    rows = db.execute(
        select(Sentence.paragraph_id, Sentence.id, Sentence.text)
        .where(Sentence.chapter_id == chapter_id).order_by(Sentence.position)
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
def get_progress(book_id: str, user: CurrentUser, db: SessionDep) -> Progress:
    """The saved position, or where to start (first sentence after front matter, updated_at null)."""
    book = _owned_book(db, user.id, book_id)
    saved = db.get(ReadingProgress, (user.id, book.id))
    if saved is not None:
        return Progress(chapter_id=saved.chapter_id, sentence_id=saved.sentence_id,
                        updated_at=saved.updated_at)
    start = store.first_reading_position(db, book.id)
    return Progress(chapter_id=start.chapter_id if start else None,
                    sentence_id=start.id if start else None, updated_at=None)


@router.put("/{book_id}/progress", responses={404: {}, 422: {}})
def put_progress(book_id: str, body: ProgressUpdate, user: CurrentUser, db: SessionDep) -> Progress:
    book = _owned_book(db, user.id, book_id)
    sentence = db.get(Sentence, body.sentence_id)
    if sentence is None or sentence.book_id != book.id or sentence.chapter_id != body.chapter_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail="chapter_id and sentence_id must name a sentence of that chapter "
                                   "in this book: reload the chapter and try again.")
    saved = db.get(ReadingProgress, (user.id, book.id))
    if saved is None:
        saved = ReadingProgress(user_id=user.id, book_id=book.id)
        db.add(saved)
    saved.chapter_id, saved.sentence_id, saved.updated_at = sentence.chapter_id, sentence.id, utcnow()
    db.commit()
    return Progress(chapter_id=saved.chapter_id, sentence_id=saved.sentence_id,
                    updated_at=saved.updated_at)
