"""Shared FastAPI dependencies and request parsing: the database session, the authenticated
user, the user's book named in the path, a body read within a cap.

`SessionDep`, `CurrentUser` and `OwnedBook` are the names route modules use.

A request holds a pooled database connection only while it talks to the database: the session
closes when the route function returns (not when its response ends, so a slow reader of a
streamed response holds none), and authentication ends its transaction, so a route that then
waits on a slow client (an upload) or on the inference service does not hold one either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.security import SESSION_COOKIE, user_for_api_key, user_for_session
from app.models.book import Book
from app.models.user import User


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_db, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def authenticate(request: Request, db: Session) -> User | None:
    """The user behind the request's API key (Bearer) or session cookie, if any."""
    token = bearer_token(request)
    if token is not None:
        return user_for_api_key(db, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return user_for_session(db, cookie)
    return None


def api_key_user(db: Session, key: str | None) -> User | None:
    """The user behind an API key (the compatible APIs' dependencies), with the connection
    given back to the pool."""
    user = user_for_api_key(db, key) if key else None
    db.commit()
    return user


def get_current_user(request: Request, db: SessionDep) -> User:
    user = authenticate(request, db)
    db.commit()  # gives the connection back to the pool; `user` stays loaded
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Not signed in: log in, or send an API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="Only an administrator can do this."
        )
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]


BOOK_NOT_FOUND = "No such book in your library: it may have been deleted. Reload your library."


def get_owned_book(book_id: str, user: CurrentUser, db: SessionDep) -> Book:
    """The book `{book_id}` of the path; another user's book is simply not there (404)."""
    book = db.get(Book, book_id)
    if book is None or book.user_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=BOOK_NOT_FOUND)
    return book


OwnedBook = Annotated[Book, Depends(get_owned_book)]


async def read_capped_body(request: Request, limit: int, too_large: str) -> bytes:
    """The whole (small) body, refused with 413 `too_large` from its declared length, or as
    soon as it passes `limit` while streaming in (the body cap middleware is the first gate)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=too_large)
    return bytes(body)
