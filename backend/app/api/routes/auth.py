"""Login, logout, the current user, password change."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.core.security import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    create_session,
    delete_session,
    hash_password,
    verify_password,
)
from app.models.user import User

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: str
    username: str
    is_admin: bool


class LoginOut(BaseModel):
    user: UserOut


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, username=user.username, is_admin=user.is_admin)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", responses={401: {}, 429: {}})
def login(
    body: LoginIn, request: Request, response: Response, db: SessionDep, settings: SettingsDep
) -> LoginOut:
    limiter = request.app.state.login_limiter
    ip = client_ip(request)
    wait = limiter.retry_after(body.username, ip)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many failed logins: try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    user = db.scalar(select(User).where(User.username == body.username))
    if user is None or not verify_password(user.password_hash, body.password):
        limiter.record_failure(body.username, ip)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Wrong username or password.")
    limiter.reset(body.username, ip)
    if user.disabled:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail="This account is disabled: ask your administrator.")
    token = create_session(db, user)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return LoginOut(user=user_out(user))


@router.post("/logout", status_code=204)
def logout(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        delete_session(db, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/me")
def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.post("/password", status_code=204)
def change_password(body: PasswordIn, user: CurrentUser, db: SessionDep) -> Response:
    if not verify_password(user.password_hash, body.current_password):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="The current password is wrong.")
    user.password_hash = hash_password(body.new_password)
    db.commit()
    return Response(status_code=204)
