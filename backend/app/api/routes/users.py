"""Accounts: an administrator lists and creates users."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import AdminUser, SessionDep
from app.api.routes.auth import UserOut, user_out
from app.core.security import hash_password
from app.models.user import User

router = APIRouter(prefix="/api/users", tags=["users"])


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=1024)
    is_admin: bool = False


@router.get("")
def list_users(_: AdminUser, db: SessionDep) -> list[UserOut]:
    return [user_out(u) for u in db.scalars(select(User).order_by(User.created_at))]


@router.post("", status_code=201, responses={409: {}})
def create_user(body: UserIn, _: AdminUser, db: SessionDep) -> UserOut:
    if db.scalar(select(User).where(User.username == body.username)) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"The username '{body.username}' is taken: choose another.",
        )
    user = User(
        username=body.username, password_hash=hash_password(body.password), is_admin=body.is_admin
    )
    db.add(user)
    db.commit()
    return user_out(user)
