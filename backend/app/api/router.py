"""Every route module of the app, in one list: add a new module here."""

from fastapi import APIRouter

from app.api.routes import (
    auth,
    books,
    elevenlabs,
    exports,
    health,
    keys,
    openai_compat,
    preferences,
    quality,
    renders,
    server,
    tts,
    users,
    voices,
)

api_router = APIRouter()

# Each routes module exposes `router` with its full prefix; include it below.
api_router.include_router(health.router)
api_router.include_router(auth.router)
api_router.include_router(users.router)
api_router.include_router(keys.router)
api_router.include_router(preferences.router)
api_router.include_router(server.router)
api_router.include_router(voices.router)
api_router.include_router(tts.router)
api_router.include_router(openai_compat.router)  # before elevenlabs: /v1/audio/...
api_router.include_router(elevenlabs.router)
api_router.include_router(books.router)
api_router.include_router(renders.router)
api_router.include_router(exports.router)
api_router.include_router(quality.router)
