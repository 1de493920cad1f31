"""A real PostgreSQL server for the backend suite's PostgreSQL run (`make test-backend-pg`).

With `OWNVOICE_TEST_DATABASE=postgresql`, every app server a test starts gets its own database on
one PostgreSQL server: `initdb` in a temporary directory, listening on a free loopback port (and a
socket in that directory), started on first use and stopped when the test process exits. The
database is named after the app server's data directory, so restarting an app on the same data
directory (the fault tests do) finds its data again, as it would on SQLite.

Debian's `postgresql` package provides the binaries (scripts/install_system.sh installs it for the
tests); `pg_config --bindir` or /usr/lib/postgresql/<version>/bin is searched.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg

ENABLED = os.environ.get("OWNVOICE_TEST_DATABASE", "sqlite") == "postgresql"
START_TIMEOUT_S = 60


def _bin_dir() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError(
        "PostgreSQL's initdb was not found: install Debian's postgresql package "
        "(scripts/install_system.sh test does) to run the backend suite on PostgreSQL"
    )


class PostgresServer:
    def __init__(self) -> None:
        from servers import free_port  # the tests' own helper (tests/ is on sys.path)

        self.root = Path(tempfile.mkdtemp(prefix="ownvoice-pg-"))
        self.port = free_port()
        self.bin = _bin_dir()
        run_as = _unprivileged_user()
        if run_as:
            shutil.chown(self.root, run_as)
        self._run_as = run_as
        self._cmd(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.root / "data"),
                "-U",
                "ownvoice",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        self._cmd(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-l",
                str(self.root / "log"),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c max_connections=400",
            ]
        )
        self._created: set[str] = set()
        self._lock = threading.Lock()
        atexit.register(self.stop)

    def _cmd(self, args: list[str]) -> None:
        if self._run_as:
            args = ["runuser", "-u", self._run_as, "--", *args]
        subprocess.run(args, check=True, capture_output=True, text=True)

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://ownvoice@127.0.0.1:{self.port}/{database}"

    def database_for(self, data_dir: Path) -> str:
        """The database of an app server's data directory, created on first use."""
        name = "ov_" + hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:20]
        with self._lock:
            if name not in self._created:
                with psycopg.connect(self.url("postgres", "postgresql"), autocommit=True) as db:
                    exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                    if exists.fetchone() is None:
                        db.execute(f'CREATE DATABASE "{name}"')
                self._created.add(name)
        return self.url(name)

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._cmd(
                    [
                        str(self.bin / "pg_ctl"),
                        "-D",
                        str(self.root / "data"),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ]
                )
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as `nobody`."""
    if os.geteuid() != 0:
        return None
    return "nobody"


_server: PostgresServer | None = None
_server_lock = threading.Lock()


def server() -> PostgresServer:
    global _server
    with _server_lock:
        if _server is None:
            started = time.monotonic()
            _server = PostgresServer()
            print(f"postgres: started in {time.monotonic() - started:.1f} s on port {_server.port}")
        return _server


def database_url(data_dir: Path) -> str | None:
    """DATABASE_URL for an app server on `data_dir`: its own PostgreSQL database, or None (SQLite)."""
    return server().database_for(data_dir) if ENABLED else None
