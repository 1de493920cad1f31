"""The FastAPI app: `create_app(settings)`; engines load in the lifespan, never at import."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .api import batch, generate, health, listen, verify, voices
from .api.errors import install_error_handlers
from .config import Settings
from .security import resolve_token
from .services import build_services

logger = logging.getLogger("ownvoice_ai")


def create_app(
    settings: Settings | None = None, clock: Callable[[], float] = time.perf_counter
) -> FastAPI:
    """`clock` times the load-time speed measurement (tests pass their own)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        app.state.token = resolve_token(settings.inference_token, settings.secrets_dir)
        # Loading takes seconds (minutes for a first download); keep the event loop free meanwhile.
        app.state.services = await run_in_threadpool(build_services, settings, clock)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(title="Ownvoice inference service", version="1.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.public)
    app.include_router(health.router)
    app.include_router(voices.router)
    app.include_router(generate.router)
    app.include_router(batch.router)
    app.include_router(listen.router)
    app.include_router(verify.router)
    return app
