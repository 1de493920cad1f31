"""API keys for programmatic clients: list, create (shown once), revoke."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import CurrentUser, SessionDep
from app.core.security import create_api_key
from app.models.user import ApiKey
from app.schemas.text import Name

router = APIRouter(prefix="/api/keys", tags=["keys"])


class KeyIn(BaseModel):
    name: Name = Field(min_length=1, max_length=100)


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class NewKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    key: str


@router.get("")
def list_keys(user: CurrentUser, db: SessionDep) -> list[KeyOut]:
    rows = db.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at))
    return [
        KeyOut(
            id=r.id,
            name=r.name,
            prefix=r.prefix,
            created_at=r.created_at,
            last_used_at=r.last_used_at,
        )
        for r in rows
    ]


@router.post("", status_code=201)
def create_key(body: KeyIn, user: CurrentUser, db: SessionDep) -> NewKeyOut:
    row, key = create_api_key(db, user, body.name)
    return NewKeyOut(id=row.id, name=row.name, prefix=row.prefix, key=key)


@router.delete("/{key_id}", status_code=204, responses={404: {}})
def revoke_key(key_id: str, user: CurrentUser, db: SessionDep) -> Response:
    row = db.get(ApiKey, key_id)
    if row is None or row.user_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such API key.")
    db.delete(row)
    db.commit()
    return Response(status_code=204)
