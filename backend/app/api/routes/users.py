"""Accounts: an administrator lists, creates, disables and resets users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import AdminUser, SessionDep
from app.core.security import hash_password
from app.models.user import User
from app.schemas.accounts import AdminUserOut, PasswordReset, UserPatch
from app.schemas.text import Name
from app.services import accounts

router = APIRouter(prefix="/api/users", tags=["users"])


class UserIn(BaseModel):
    username: Name = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=1024)
    is_admin: bool = False


def admin_user_out(user: User) -> AdminUserOut:
    return AdminUserOut(
        id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        disabled=user.disabled,
        created_at=user.created_at,
    )


def get_target_user(user_id: str, _: AdminUser, db: SessionDep) -> User:
    target = db.get(User, user_id)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such user: refresh the list.")
    return target


TargetUser = Annotated[User, Depends(get_target_user)]


@router.get("")
def list_users(_: AdminUser, db: SessionDep) -> list[AdminUserOut]:
    return [admin_user_out(u) for u in db.scalars(select(User).order_by(User.created_at))]


@router.post("", status_code=201, responses={409: {}})
def create_user(body: UserIn, _: AdminUser, db: SessionDep) -> AdminUserOut:
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
    return admin_user_out(user)


@router.patch("/{user_id}", responses={404: {}, 409: {}})
def change_user(body: UserPatch, target: TargetUser, db: SessionDep) -> AdminUserOut:
    """Disable or enable an account (disabling ends its sessions), or change its role."""
    accounts.change_user(db, target, body.disabled, body.is_admin)  # 409: AccountRuleError
    return admin_user_out(target)


@router.post("/{user_id}/password", status_code=204, responses={404: {}})
def reset_password(body: PasswordReset, target: TargetUser, db: SessionDep) -> Response:
    """Set a new password for a user who forgot theirs; their sessions end."""
    accounts.reset_password(db, target, body.new_password)
    return Response(status_code=204)
