"""GET /api/health: the app server's liveness for anyone; the inference service's readiness
(engines, device, why it is down) only for a signed-in user or an API key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from app.api.deps import SessionDep, authenticate
from app.models.user import User
from app.services.inference_client import UNREACHABLE, InferenceError

router = APIRouter(prefix="/api", tags=["health"])


def optional_user(request: Request, db: SessionDep) -> User | None:
    return authenticate(request, db)


@router.get("/health")
async def health(
    request: Request, user: Annotated[User | None, Depends(optional_user)]
) -> dict[str, Any]:
    """`inference.reachable` tells "not running" (false) from "running, not ready" (true)."""
    if user is None:
        return {"status": "ok"}
    try:
        ready = await request.app.state.inference.ready(fresh=True)
        inference: dict[str, Any] = {**ready, "reachable": True}
    except InferenceError as exc:
        inference = {
            "ready": False,
            "reachable": exc.code != UNREACHABLE,
            "code": exc.code,
            "reason": exc.message,
        }
    return {"status": "ok", "inference": inference}
