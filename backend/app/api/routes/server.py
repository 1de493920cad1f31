"""What the server holds for everyone: the audio cache, and which integrations are configured."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.deps import AdminUser, CurrentUser
from app.schemas.accounts import CacheStatus, Integrations

router = APIRouter(prefix="/api", tags=["server"])


@router.get("/cache")
def cache_status(request: Request, _: CurrentUser) -> CacheStatus:
    cache = request.app.state.audio_cache
    return CacheStatus(
        size_bytes=cache.size_bytes, max_bytes=cache.max_bytes, entries=cache.entry_count()
    )


@router.delete("/cache", status_code=204)
def clear_cache(request: Request, _: AdminUser) -> Response:
    """Remove every cached sentence (they are rendered again when next played)."""
    request.app.state.audio_cache.clear()
    return Response(status_code=204)


@router.get("/integrations")
def integrations(request: Request, _: CurrentUser) -> Integrations:
    return Integrations(elevenlabs_configured=request.app.state.elevenlabs is not None)
