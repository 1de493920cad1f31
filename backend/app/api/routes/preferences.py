"""Reader preferences per account: every browser of a user reads and writes the same ones."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import CurrentUser, SessionDep
from app.schemas.accounts import Preferences, PreferencesPatch
from app.services import accounts

router = APIRouter(prefix="/api/preferences", tags=["preferences"])


@router.get("")
def get_preferences(user: CurrentUser, db: SessionDep) -> Preferences:
    return accounts.preferences(db, user)


@router.patch("")
def update_preferences(body: PreferencesPatch, user: CurrentUser, db: SessionDep) -> Preferences:
    return accounts.update_preferences(db, user, body)
