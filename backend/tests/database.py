"""The database an app server's data directory uses, for tests that look inside it: its SQLite file,
or its own PostgreSQL database in the suite's PostgreSQL run (tests/postgres.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import postgres
from sqlalchemy import create_engine, text


def url_for(data_dir: Path) -> str:
    """SQLAlchemy URL of the database an app on `data_dir` uses (the app's own default on SQLite)."""
    return postgres.database_url(data_dir) or f"sqlite:///{Path(data_dir) / 'ownvoice.db'}"


def settings(data_dir: Path, **overrides: Any):
    """The app's Settings for `data_dir`, on the suite's database."""
    from app.core.config import Settings

    database = postgres.database_url(data_dir)
    extra = {"DATABASE_URL": database} if database else {}
    return Settings(OWNVOICE_DATA_DIR=data_dir, **extra, **overrides)


def shared_with(data_dir: Path) -> dict[str, str]:
    """Environment for an app server on a copy of `data_dir` (or on another data directory)
    that must see `data_dir`'s database: on SQLite the copied file is that database already;
    on PostgreSQL the copy would otherwise get a new, empty database of its own."""
    database = postgres.database_url(data_dir)
    return {"DATABASE_URL": database} if database else {}


def rows(data_dir: Path, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one query (`:name` parameters) on the data directory's database; its rows as tuples."""
    engine = create_engine(url_for(data_dir))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def execute(data_dir: Path, sql: str, **params: Any) -> int:
    """Run one statement (`:name` parameters) and commit it; the number of rows it changed."""
    engine = create_engine(url_for(data_dir))
    try:
        with engine.begin() as connection:
            return connection.execute(text(sql), params).rowcount
    finally:
        engine.dispose()


def integrity(data_dir: Path) -> str:
    """'ok' when the database is intact: SQLite's integrity_check, or pg_amcheck (heap and btree
    indexes) on PostgreSQL; otherwise what the check reported."""
    if not postgres.ENABLED:
        return rows(data_dir, "PRAGMA integrity_check")[0][0]
    server = postgres.server()
    database = postgres.database_url(data_dir).rsplit("/", 1)[1]  # type: ignore[union-attr]
    check = subprocess.run(
        [
            str(server.bin / "pg_amcheck"),
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            "ownvoice",
            "--install-missing",
            "--heapallindexed",
            database,
        ],
        capture_output=True,
        text=True,
    )
    return "ok" if check.returncode == 0 else (check.stdout + check.stderr).strip()
