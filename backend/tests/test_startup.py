"""`python -m app`: first start, bad configuration, and serving the built frontend."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
from servers import BACKEND_DIR, base_env, closed_port_url, free_port, start_app


def run_app(data_dir: Path, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = base_env(data_dir)
    full_env.update(OWNVOICE_HOST="127.0.0.1", OWNVOICE_INFERENCE_URL=closed_port_url(), **env)
    return subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=BACKEND_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_port_in_use_ends_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_app(tmp_path / "data", OWNVOICE_PORT=str(port))
    assert_one_clear_line(result, str(port), "OWNVOICE_PORT")


def test_corrupt_database_ends_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ownvoice.db").write_bytes(b"this is not a database at all\n" * 200)
    result = run_app(data, OWNVOICE_PORT=str(free_port()))
    assert_one_clear_line(result, "ownvoice.db", "backup")
    # Nothing was overwritten: the user's file is still there as it was.
    assert (data / "ownvoice.db").read_bytes().startswith(b"this is not a database")


def test_unreachable_database_url_ends_with_one_line(tmp_path: Path) -> None:
    result = run_app(
        tmp_path / "data",
        OWNVOICE_PORT=str(free_port()),
        DATABASE_URL=f"sqlite:///{tmp_path}/no/such/dir/x.db",
    )
    assert_one_clear_line(result, "DATABASE_URL")


def test_missing_database_driver_ends_with_one_line(tmp_path: Path) -> None:
    result = run_app(
        tmp_path / "data",
        OWNVOICE_PORT=str(free_port()),
        DATABASE_URL="postgresql://ownvoice@127.0.0.1:1/ownvoice",
    )
    assert_one_clear_line(result, "DATABASE_URL")


def test_first_start_prints_a_generated_admin_password_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_app(data, OWNVOICE_ADMIN_PASSWORD="", OWNVOICE_ADMIN_API_KEY="")
    try:
        first_log = server.process.log()
        line = next(line for line in first_log.splitlines() if "created admin user" in line)
        password = line.split("password '")[1].split("'")[0]
        response = httpx.post(
            server.url + "/api/auth/login", json={"username": "admin", "password": password}
        )
        assert response.status_code == 200
        server.restart()
        assert server.process.log().count("created admin user") == 1
        assert password not in (data / "ownvoice.db").read_bytes().decode("latin-1")
    finally:
        server.stop()


def test_inference_token_file_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_app(data, OWNVOICE_INFERENCE_TOKEN="")
    server.stop()
    token_file = data / "secrets" / "inference_token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert len(token_file.read_text().strip()) >= 32


def test_missing_frontend_build_gives_a_hint(tmp_path: Path) -> None:
    server = start_app(tmp_path / "data", OWNVOICE_FRONTEND_DIST=str(tmp_path / "no-dist"))
    try:
        response = httpx.get(server.url + "/")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/plain")
        assert "npm run build" in response.text and "make start" in response.text
    finally:
        server.stop()


def test_built_frontend_is_served_with_spa_fallback(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Ownvoice</title><div id=root>")
    (dist / "assets" / "app.js").write_text("console.log('ownvoice')")
    (tmp_path / "secret.txt").write_text("outside dist")
    server = start_app(tmp_path / "data", OWNVOICE_FRONTEND_DIST=str(dist))
    try:
        with httpx.Client(base_url=server.url) as client:
            assert "<title>Ownvoice</title>" in client.get("/").text
            assert "<title>Ownvoice</title>" in client.get("/library/some/deep/link").text
            asset = client.get("/assets/app.js")
            assert asset.status_code == 200 and "ownvoice" in asset.text
            assert "javascript" in asset.headers["content-type"]
            # API paths never fall back to the app; traversal never leaves dist.
            missing = client.get("/api/no-such-route")
            assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
            assert client.get("/v1/no-such-route").status_code == 404
            escaped = client.get("/%2e%2e/secret.txt")
            assert "outside dist" not in escaped.text
    finally:
        server.stop()


def test_unusable_data_directory_ends_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_app(blocker / "data", OWNVOICE_PORT=str(free_port()))
    assert_one_clear_line(result, "OWNVOICE_DATA_DIR")
