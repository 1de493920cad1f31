"""Shared fixtures: real app server processes on real SQLite files in temp data dirs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import database
import httpx
import postgres
import pytest
from audio_files import CLEAN_WAV
from servers import (
    ADMIN_PASSWORD,
    AppServer,
    InferenceServer,
    start_app,
    start_app_on,
    start_inference,
)
from sqlalchemy import Engine

from app.core.db import make_engine, session_factory
from app.main import run_migrations
from app.models.user import User


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """An app server whose inference service is unreachable (auth, keys, users, health)."""
    server = start_app(tmp_path_factory.mktemp("app") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ai_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack") / "data"


@pytest.fixture(scope="session")
def inference(ai_data_dir: Path) -> Iterator[InferenceServer]:
    server = start_inference(ai_data_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(ai_data_dir: Path, inference: InferenceServer) -> Iterator[AppServer]:
    """The app server and the real inference service, sharing one data directory."""
    server = start_app(ai_data_dir, inference_url=inference.url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_on_inference(
    tmp_path_factory: pytest.TempPathFactory, inference: InferenceServer
) -> Iterator[Callable[..., AppServer]]:
    """Starts app servers of their own (own database and cache, in a temp dir named `name`)
    on the shared inference service: `app_on_inference(name, via=None, **env)`. They stop
    when the module ends."""
    started: list[AppServer] = []

    def start(name: str, via: str | None = None, **extra_env: str) -> AppServer:
        server = start_app_on(inference, tmp_path_factory.mktemp(name) / "data", via, **extra_env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def migrated(tmp_path: Path) -> Iterator[Engine]:
    """An empty database of this run's kind (SQLite or PostgreSQL), migrated to the newest."""
    engine = make_engine(database.url_for(tmp_path))
    run_migrations(engine)
    yield engine
    engine.dispose()


def add_user(engine: Engine, username: str) -> str:
    with session_factory(engine)() as db:
        user = User(username=username, password_hash="x")
        db.add(user)
        db.commit()
        return user.id


def login(
    server: AppServer, username: str = "admin", password: str = ADMIN_PASSWORD
) -> httpx.Client:
    """A client (not yet opened, so usable in `with`) carrying a fresh session cookie."""
    with server.client() as client:
        response = client.post("/api/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        token = client.cookies["ownvoice_session"]
    return server.client(cookies={"ownvoice_session": token})


def create_user(server: AppServer, username: str, password: str = "password-123") -> httpx.Client:
    """A fresh non-admin user, logged in."""
    with server.admin() as admin:
        response = admin.post("/api/users", json={"username": username, "password": password})
        assert response.status_code == 201, response.text
    return login(server, username, password)


def create_user_with_voice(server: AppServer, username: str) -> httpx.Client:
    """A fresh user whose default voice (custom_user_voice) is cloned from a clean recording."""
    client = create_user(server, username)
    response = client.post(
        "/api/voice/upload",
        data={"name": "Me", "language": "en", "consent": "attested"},
        files={"audio": ("me.wav", CLEAN_WAV.read_bytes(), "audio/wav")},
    )
    assert response.status_code == 201, response.text
    return client


# The PostgreSQL run (make test-backend-pg) leaves out the modules whose tests exercise no SQL of
# their own beyond what the modules it keeps already cover: HTTP body limits and headers, EPUB
# parsing limits, text splitting, the API surfaces' shapes, the soak, pure helpers. Everything
# that stores, queries, migrates, locks or crashes the database runs on both.
POSTGRES_SKIPS_MODULES = {
    "test_body_limits.py",
    "test_books_bombs.py",
    "test_books_text_linear.py",
    "test_compat_sdk.py",
    "test_domain_errors.py",
    "test_elevenlabs_passthrough.py",
    "test_bench_export.py",
    "test_epub_overlay.py",
    "test_export_alice.py",
    "test_leases.py",
    "test_quality.py",
    "test_ray_replicas.py",
    "test_soak.py",
    "test_startup.py",
    "test_timestamps.py",
    "test_uploads.py",
    "test_web_security.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not postgres.ENABLED:
        return
    kept = [item for item in items if item.path.name not in POSTGRES_SKIPS_MODULES]
    left_out = [item for item in items if item.path.name in POSTGRES_SKIPS_MODULES]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
