"""GET /api/health: the app server's liveness plus the inference service's readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.services.inference_client import InferenceError

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    try:
        inference: dict[str, Any] = await request.app.state.inference.ready(fresh=True)
    except InferenceError as exc:
        inference = {"ready": False, "reason": exc.message}
    return {"status": "ok", "inference": inference}
