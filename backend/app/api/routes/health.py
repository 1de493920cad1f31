"""GET /api/health: the app server's liveness plus the inference service's readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.services.inference_client import UNREACHABLE, InferenceError

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """`inference.reachable` tells "not running" (false) from "running, not ready" (true)."""
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
