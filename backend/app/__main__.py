"""`python -m app`: run the app server on OWNVOICE_HOST:OWNVOICE_PORT.

Configuration problems (port in use, corrupt database, unreachable DATABASE_URL) end with
one line on stderr saying what to do, and exit code 2.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app.core.config import Settings

EXIT_CONFIG = 2


def fail(message: str) -> None:
    print(f"ownvoice: {message}", file=sys.stderr, flush=True)
    sys.exit(EXIT_CONFIG)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(
            f"cannot listen on {host}:{port} ({exc.strerror}): stop whatever uses the port "
            "or set OWNVOICE_PORT to another one."
        )
    return sock


def exposure_notice(settings: Settings) -> str:
    """How the app can be reached, and what to do to expose it safely."""
    where = f"{settings.host}:{settings.port}"
    try:
        loopback = settings.host == "localhost" or ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return (
            f"listening on {where}, reachable from this machine only. To let other devices "
            "in, set OWNVOICE_HOST=0.0.0.0, and put HTTPS in front of it (README: "
            "Limits and security)."
        )
    if (settings.public_url or "").lower().startswith("https://"):
        return f"listening on {where}, served to browsers as {settings.public_url}."
    return (
        f"WARNING: listening on {where}, reachable from other machines over plain HTTP: "
        "passwords and session cookies can be read on the way. Put an HTTPS reverse proxy "
        "in front and set OWNVOICE_PUBLIC_URL=https://... (README: Limits and security)."
    )


def check_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create the data directory {path} ({exc.strerror}): set OWNVOICE_DATA_DIR.")
    if not os.access(path, os.W_OK):
        fail(
            f"the data directory {path} is not writable: fix its permissions or set "
            "OWNVOICE_DATA_DIR."
        )


def database_problem(settings: Settings, exc: Exception) -> str:
    if settings.database_url:
        return (
            f"cannot use the database at DATABASE_URL ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}): check that it is running and the URL is right."
        )
    path = settings.resolved_data_dir / "ownvoice.db"
    return (
        f"the database file {path} cannot be opened ({str(exc).splitlines()[0][:200]}): "
        "restore it from a backup, or move it away to start with an empty one."
    )


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        fail(f"invalid setting: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
    check_data_dir(settings.resolved_data_dir)
    sock = bind_socket(settings.host, settings.port)
    # Migrate before serving, so a broken database is reported here in one line rather
    # than as a traceback from inside the server's startup.
    from app.main import create_app, prepare_database

    try:
        prepare_database(settings).dispose()
    except (SQLAlchemyError, OSError) as exc:
        fail(database_problem(settings, exc))
    except ImportError as exc:  # DATABASE_URL names a database whose driver is not installed
        fail(
            f"DATABASE_URL needs a database driver that is not installed ({exc.name}): "
            "install it into the backend's environment, or unset DATABASE_URL to use SQLite."
        )
    app = create_app(settings)
    print(f"ownvoice: {exposure_notice(settings)}", flush=True)
    config = uvicorn.Config(app, log_config=None, proxy_headers=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
