"""The app server: create_app() builds the FastAPI application; lifespan prepares its state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic.config import Config
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from app.api.body_limit import BodyLimitMiddleware
from app.api.disk_full import DiskFullMiddleware
from app.api.error_shapes import (
    domain_error_response,
    error_response,
    is_openai_path,
    validation_details,
)
from app.api.nul_guard import NulGuardMiddleware
from app.api.router import api_router
from app.api.web_security import install_web_security
from app.core.config import Settings, get_settings
from app.core.db import make_engine, session_factory, startup_lock
from app.core.files import sweep_temp_files
from app.core.leases import new_owner, renewal_interval
from app.core.limits import StreamLimiter
from app.core.logging import configure_logging
from app.core.security import (
    LoginLimiter,
    create_api_key,
    digest,
    dummy_password_hash,
    hash_password,
)
from app.models.user import ApiKey, User
from app.services import voices as voice_service
from app.services.audio_cache import TEMP_PREFIX as CACHE_TEMP_PREFIX
from app.services.audio_cache import AudioCache
from app.services.books import store as books_store
from app.services.books.store import INCOMING_PREFIX
from app.services.elevenlabs import ElevenLabsClient
from app.services.errors import DomainError
from app.services.exports.assemble import Pauses
from app.services.exports.jobs import ExportRunner
from app.services.exports.room import Room
from app.services.exports.writers import PARTIAL as EXPORT_TEMP_PREFIX
from app.services.heard_speech import LiveChecker
from app.services.inference_client import InferenceClient, read_or_create_token
from app.services.renders import RenderRunner
from app.services.speech import Synthesizer
from app.services.uploads import UPLOAD_PREFIX

log = logging.getLogger("ownvoice.app")

BACKEND_DIR = Path(__file__).resolve().parents[1]
# Paths the single-page app never owns: they 404 as JSON instead of falling back to index.html.
API_PREFIXES = ("/api", "/v1", "/v2")


def run_migrations(engine: Engine) -> None:
    """Bring the database schema to the newest Alembic revision."""
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(BACKEND_DIR / "alembic"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def ensure_admin(db: Session, settings: Settings) -> None:
    """First start: create the admin; every start: provision OWNVOICE_ADMIN_API_KEY."""
    admin = db.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.created_at))
    if admin is None:
        password = settings.admin_password or secrets.token_urlsafe(12)
        admin = User(
            username=settings.admin_username, password_hash=hash_password(password), is_admin=True
        )
        db.add(admin)
        db.commit()
        log.info("admin account created", extra={"username": admin.username})
        if not settings.admin_password:
            # Printed once, on the console of the first start; only its hash is stored.
            print(
                f"Ownvoice: created admin user '{admin.username}' with password '{password}' "
                "(shown only this once; set OWNVOICE_ADMIN_PASSWORD to choose it)",
                flush=True,
            )
    key = settings.admin_api_key
    if key and db.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key))) is None:
        create_api_key(db, admin, "OWNVOICE_ADMIN_API_KEY", key=key)
        log.info("provisioned admin API key from OWNVOICE_ADMIN_API_KEY")


def prepare_database(settings: Settings) -> Engine:
    """Create the data directory, migrate, bootstrap the admin. Raises on a broken database."""
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with startup_lock(engine):  # app servers starting together: one migrates at a time
            run_migrations(engine)
            with session_factory(engine)() as db:
                ensure_admin(db, settings)
    except Exception:
        engine.dispose()
        raise
    return engine


def sweep_orphans(data_dir: Path, factory: sessionmaker[Session], min_age_s: float = 0.0) -> None:
    """Temp files of uploads, imports and cache writes, and book rows staged by an import, that
    a crash cut off (none is in flight before the app serves its first request). With other app
    servers on the data directory (`min_age_s`, OWNVOICE_ORPHAN_MIN_AGE_SECONDS), only files
    that old, and no rows: those may be another app server's work in flight."""
    if not min_age_s:
        with factory() as db:
            if books_store.remove_unfinished_imports(db):
                log.info("removed the rows of an import that a crash cut off")
    sweeps = (
        (data_dir / "uploads", (UPLOAD_PREFIX, INCOMING_PREFIX)),
        (data_dir / "audio_cache", (CACHE_TEMP_PREFIX,)),
        (data_dir / "exports", (EXPORT_TEMP_PREFIX,)),
    )
    removed = sum(
        sweep_temp_files(directory, prefixes, recursive=True, min_age_s=min_age_s)
        for directory, prefixes in sweeps
    )
    if removed:
        log.info("removed temporary files left by a crash", extra={"count": removed})


def inference_token(settings: Settings) -> str:
    if settings.inference_token:
        return settings.inference_token
    return read_or_create_token(settings.resolved_data_dir / "secrets" / "inference_token")


async def renew_streams(limiter: StreamLimiter) -> None:
    """Keep this app server's open streams counted (StreamLimiter): renewed every third of
    their lease."""
    while True:
        await asyncio.sleep(renewal_interval(limiter.lease_s))
        try:
            await asyncio.to_thread(limiter.renew)
        except Exception:
            log.exception("cannot renew the open streams' leases")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = prepare_database(settings)
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    sweep_orphans(settings.resolved_data_dir, app.state.session_factory, settings.orphan_min_age_s)
    app.state.inference = InferenceClient(
        settings.inference_url,
        inference_token(settings),
        stock_voices_file=settings.resolved_data_dir / "stock_voices.json",
    )
    app.state.audio_cache = AudioCache(
        settings.resolved_data_dir / "audio_cache", settings.audio_cache_max_bytes
    )
    app.state.elevenlabs = (
        ElevenLabsClient(settings.elevenlabs_base_url, settings.elevenlabs_api_key)
        if settings.elevenlabs_api_key
        else None
    )
    app.state.login_limiter = LoginLimiter(app.state.session_factory)  # shared: in the database
    app.state.stream_limiter = StreamLimiter(
        app.state.session_factory,
        settings.max_streams_per_user,
        owner=new_owner(settings.replica),
        lease_s=settings.job_lease_s,
    )
    try:
        await asyncio.to_thread(app.state.stream_limiter.take_back, settings.replica)
    except SQLAlchemyError:  # (a full disk): those rows stop counting when their leases run out
        log.warning("cannot remove the open streams of this replica's earlier process")
    renewing = asyncio.create_task(renew_streams(app.state.stream_limiter), name="stream-leases")
    dummy_password_hash()  # made now, so the first unknown username is not slower
    # Render jobs key and fill the cache through the same Synthesizer as POST /api/tts.
    app.state.renders = RenderRunner(
        app.state.session_factory,
        Synthesizer(app.state.inference, None, app.state.audio_cache),
        settings.render_batch_size,
        ready_patience_s=settings.render_ready_patience_s,
        lease_s=settings.job_lease_s,
        replica=settings.replica,
        batches_per_replica=settings.render_batches_per_replica,
    )
    app.state.renders.start()
    app.state.exports = ExportRunner(
        app.state.session_factory,
        Synthesizer(app.state.inference, None, app.state.audio_cache),
        settings.render_batch_size,
        Room(
            settings.resolved_data_dir / "exports",
            books_store.books_dir(settings),
            Pauses(
                settings.export_sentence_pause_s,
                settings.export_paragraph_pause_s,
                settings.export_chapter_pause_s,
            ),
            settings.export_reserve_bytes,
            settings.export_quota_bytes,
        ),
        ready_patience_s=settings.render_ready_patience_s,
        lease_s=settings.job_lease_s,
        replica=settings.replica,
        batches_per_replica=settings.render_batches_per_replica,
    )
    app.state.exports.start()
    # Live sentences are heard after they played (app.services.heard_speech).
    app.state.live_checker = LiveChecker(
        Synthesizer(app.state.inference, None, app.state.audio_cache)
    )
    app.state.live_checker.start()
    resuming = asyncio.create_task(
        voice_service.resume_interrupted_voices(
            app.state.session_factory, app.state.inference, settings.resolved_data_dir
        )
    )
    log.info("app server ready", extra={"data_dir": str(settings.resolved_data_dir)})
    try:
        yield
    finally:
        resuming.cancel()  # an unfinished voice stays "processing": the next start resumes it
        with contextlib.suppress(asyncio.CancelledError):
            await resuming
        await app.state.renders.stop()
        await app.state.exports.stop()
        await app.state.live_checker.stop()
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        with contextlib.suppress(Exception):  # the database is gone: the rows expire
            await asyncio.to_thread(app.state.stream_limiter.close)
        await app.state.inference.aclose()
        if app.state.elevenlabs is not None:
            await app.state.elevenlabs.aclose()
        engine.dispose()


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)  # every service error, the inference service's too
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        return domain_error_response(request, exc)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return error_response(request, exc.status_code, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        # OpenAI answers malformed requests with 400 invalid_request_error; its SDK expects it.
        status_code = 400 if is_openai_path(request.url.path) else 422
        details = validation_details(exc.errors())
        return error_response(request, status_code, details, code="invalid_request")


MISSING_FRONTEND_HINT = (
    "Ownvoice's web app has not been built yet.\n\n"
    "Run `make start` from the repository root (it builds it), or build it yourself:\n"
    "  cd frontend && npm install && npm run build\n\n"
    "The API is up: see /api/health and /docs.\n"
)


def install_frontend(app: FastAPI, dist: Path) -> None:
    """Serve the built single-page app; unknown non-API paths fall back to index.html."""
    dist = dist.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def _frontend(path: str) -> Response:
        if ("/" + path).startswith(API_PREFIXES):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        index = dist / "index.html"
        if not index.is_file():
            return PlainTextResponse(MISSING_FRONTEND_HINT, status_code=503)
        candidate = (dist / path).resolve()
        if path and candidate.is_relative_to(dist) and candidate.is_file():
            return FileResponse(candidate)
        # index.html must never be cached, or a new build would not reach the browser.
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging()
    app = FastAPI(title="Ownvoice", version="1.0.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(DiskFullMiddleware)  # 507 when the disk is full (app.core.files)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(NulGuardMiddleware)  # %00 in the address: 400 on every database
    install_web_security(app, settings)  # outermost: every answer gets the security headers
    app.include_router(api_router)
    install_frontend(app, settings.frontend_dist)
    return app
