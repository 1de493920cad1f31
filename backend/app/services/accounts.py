"""Account rules: reader preferences per user, and what an administrator may do to users."""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.security import hash_password
from app.models.user import AuthSession, User, UserPreferences, utcnow
from app.schemas.accounts import Preferences, PreferencesPatch
from app.services.errors import Conflict


class AccountRuleError(Conflict):
    """An administrator asked for something that would lock everyone out."""


def preferences(db: Session, user: User) -> Preferences:
    row = db.get(UserPreferences, user.id)
    if row is None:
        return Preferences()
    try:
        stored = json.loads(row.data)
    except ValueError:
        return Preferences()
    # Field by field: a value stored by an older version that no longer validates is dropped.
    defaults = Preferences().model_dump()
    valid = {}
    for name, value in stored.items() if isinstance(stored, dict) else ():
        if name in defaults:
            try:
                valid[name] = getattr(Preferences.model_validate({name: value}), name)
            except ValueError:
                continue
    return Preferences.model_validate({**defaults, **valid})


def update_preferences(db: Session, user: User, patch: PreferencesPatch) -> Preferences:
    merged = preferences(db, user).model_copy(update=patch.model_dump(exclude_none=True))
    row = db.get(UserPreferences, user.id)
    data = merged.model_dump_json()
    if row is None:
        db.add(UserPreferences(user_id=user.id, data=data, updated_at=utcnow()))
    else:
        row.data = data
        row.updated_at = utcnow()
    db.commit()
    return merged


def _other_active_admins(db: Session, user: User) -> int:
    return len(
        db.scalars(
            select(User.id).where(
                User.is_admin.is_(True), User.disabled.is_(False), User.id != user.id
            )
        ).all()
    )


def change_user(db: Session, target: User, disabled: bool | None, is_admin: bool | None) -> User:
    """Disable/enable or promote/demote a user; the last active administrator stays one."""
    losing_admin = (disabled is True or is_admin is False) and target.is_admin
    if losing_admin and _other_active_admins(db, target) == 0:
        raise AccountRuleError(
            "This is the only active administrator: make another user an administrator first."
        )
    if disabled is not None:
        target.disabled = disabled
        if disabled:
            revoke_sessions(db, target)
    if is_admin is not None:
        target.is_admin = is_admin
    db.commit()
    return target


def reset_password(db: Session, target: User, new_password: str) -> None:
    """An administrator sets a new password; every session of that user ends."""
    target.password_hash = hash_password(new_password)
    revoke_sessions(db, target)
    db.commit()


def revoke_sessions(db: Session, user: User, keep_token_hash: str | None = None) -> None:
    query = delete(AuthSession).where(AuthSession.user_id == user.id)
    if keep_token_hash is not None:
        query = query.where(AuthSession.token_hash != keep_token_hash)
    db.execute(query)
