"""Login, logout, the current user, password change."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.api.web_security import cookie_secure
from app.core.security import (
    SESSION_COOKIE,
    SESSION_LIFETIME,
    LoginLimiter,
    check_credentials,
    create_session,
    delete_other_sessions,
    delete_session,
    hash_password,
    verify_password,
)
from app.models.user import User
from app.schemas.text import Name

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: Name = Field(min_length=1, max_length=64)
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


def limiter_for(request: Request) -> LoginLimiter:
    return request.app.state.login_limiter


def refuse_if_limited(limiter: LoginLimiter, username: str, ip: str) -> None:
    wait = limiter.retry_after(username, ip)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many failed logins: try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )


@router.post("/login", responses={401: {}, 429: {}})
def login(
    body: LoginIn, request: Request, response: Response, db: SessionDep, settings: SettingsDep
) -> LoginOut:
    limiter, ip = limiter_for(request), client_ip(request)
    refuse_if_limited(limiter, body.username, ip)
    user = check_credentials(db, body.username, body.password)
    if user is None:
        limiter.record_failure(body.username, ip)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Wrong username or password.")
    limiter.reset(body.username, ip)
    if user.disabled:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="This account is disabled: ask your administrator."
        )
    token = create_session(db, user)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
        path="/",
    )
    return LoginOut(user=user_out(user))


@router.post("/logout", status_code=204)
def logout(request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        delete_session(db, token)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
    )
    return response


@router.get("/me")
def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.post("/password", status_code=204, responses={400: {}, 429: {}})
def change_password(
    body: PasswordIn, request: Request, user: CurrentUser, db: SessionDep
) -> Response:
    """Set a new password and sign out every other browser (API keys stay valid)."""
    # Wrong current passwords count as failed logins: a stolen session cannot guess on.
    limiter, ip = limiter_for(request), client_ip(request)
    refuse_if_limited(limiter, user.username, ip)
    if not verify_password(user.password_hash, body.current_password):
        limiter.record_failure(user.username, ip)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="The current password is wrong.")
    user.password_hash = hash_password(body.new_password)
    db.commit()
    delete_other_sessions(db, user, keep_token=request.cookies.get(SESSION_COOKIE))
    return Response(status_code=204)
