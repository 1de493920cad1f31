"""Shared FastAPI dependencies: the database session and the authenticated user.

`SessionDep` and `CurrentUser` are the names every route module uses.

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
