"""Importing a book from a request: the uploaded file (read by the one streamed, size-capped
upload reader, app.services.uploads) or pasted text, parsed and stored in a small pool of
worker threads (IMPORT_THREADS at once, the rest wait their turn): a large book never blocks
the event loop, and many imports at once cannot take every CPU."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import Request
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.limits import UPLOADS
from app.models.book import Book
from app.services.books import store
from app.services.errors import InvalidInput
from app.services.uploads import UPLOAD_PREFIX, receive_multipart

IMPORT_THREADS = 2
_import_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)
T = TypeVar("T")


async def in_import_pool(func: Callable[..., T], *args: Any) -> T:
    """Run CPU-heavy import work off the event loop, at most IMPORT_THREADS at a time."""
    loop = asyncio.get_running_loop()  # anyio ties a limiter to the loop it was created in
    limiter = _import_limiters.get(loop)
    if limiter is None:
        limiter = _import_limiters[loop] = anyio.CapacityLimiter(IMPORT_THREADS)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


def _text_field(fields: dict[str, str], name: str) -> str | None:
    value = fields.get(name, "").strip()
    return value or None


async def receive_book_file(request: Request, settings: Settings) -> store.UploadedBook:
    """Stream the multipart body; the file part lands, once, in a temp file under
    uploads/books/ (where the stored book will live)."""
    form = await receive_multipart(
        request,
        UPLOADS["/api/books"],
        settings,
        temp_dir=store.books_dir(settings),
        file_fields={"file"},
        sniff=None,  # EPUB or text: the importer tells them apart
    )
    if not form.files:
        raise InvalidInput("No file in the upload: send the book as multipart field 'file'.")
    upload = form.files[0]
    if upload.size == 0:
        form.discard()
        raise InvalidInput("The file is empty: choose a book file.")
    return store.UploadedBook(
        path=upload.path,
        filename=upload.filename,
        content_type=upload.content_type,
        title=_text_field(form.fields, "title"),
        language=_text_field(form.fields, "language"),
    )


def _import_file(db: Session, user_id: str, upload: store.UploadedBook, settings: Settings) -> Book:
    try:
        return store.import_upload(db, user_id, upload, settings)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if upload.path.name.startswith((UPLOAD_PREFIX, store.INCOMING_PREFIX)):
                upload.path.unlink()  # not stored: the import failed


async def import_file(
    db: Session, user_id: str, upload: store.UploadedBook, settings: Settings
) -> Book:
    return await in_import_pool(_import_file, db, user_id, upload, settings)


async def import_pasted(
    db: Session, user_id: str, title: str, text: str, language: str, settings: Settings
) -> Book:
    return await in_import_pool(store.import_pasted, db, user_id, title, text, language, settings)
