"""Real processes for the tests: the app server (`python -m app`) and the inference service
(`python -m ownvoice_ai` on the tiny checkpoint), each on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import postgres

BACKEND_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = BACKEND_DIR.parent
SHARED_DATA = REPO_DIR / ".." / "shared" / "data"
AI_SERVICE_DIR = REPO_DIR / "ai-service"
AI_PYTHON = AI_SERVICE_DIR / ".venv" / "bin" / "python"

ADMIN_PASSWORD = "admin-password-for-tests"
ADMIN_API_KEY = "ov_test_admin_key_0123456789abcdefghij"
APP_START_TIMEOUT_S = 180  # a deadline, not a wait: generous, for a loaded machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class Process:
    args: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: object | None = field(default=None, repr=False)
    stop_timeout: float = 15  # after SIGTERM, before SIGKILL

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.args, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(
        self,
        url: str,
        timeout: float,
        ok: callable = lambda r: r.status_code == 200,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.args} exited with {self.proc.returncode}:\n{self.log()[-4000:]}"
                )
            try:
                response = httpx.get(url, timeout=5, headers=headers)
                if ok(response):
                    return response
                last = response.text
            except httpx.TransportError as exc:
                last = exc
            time.sleep(0.25)
        raise RuntimeError(f"{url} not ready after {timeout}s ({last}):\n{self.log()[-4000:]}")


def base_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OWNVOICE_", "ELEVENLABS_")) and k != "DATABASE_URL"
    }
    env.update(OWNVOICE_DATA_DIR=str(data_dir), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    database = postgres.database_url(data_dir)  # the suite's PostgreSQL run; None on SQLite
    if database:
        env["DATABASE_URL"] = database
    return env


@dataclass
class AppServer:
    data_dir: Path
    env: dict[str, str]
    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 120, **kwargs})  # type: ignore[arg-type]

    def admin(self) -> httpx.Client:
        return self.client(headers={"Authorization": f"Bearer {ADMIN_API_KEY}"})

    def restart(self) -> None:
        self.process.stop()
        self.process.start()
        self.process.wait_for(self.url + "/api/health", APP_START_TIMEOUT_S)

    def start_again(self) -> None:
        """Start it again on the same port and data (after `process.kill()`, say)."""
        self.process.start()
        self.process.wait_for(self.url + "/api/health", 60)

    def stop(self) -> None:
        self.process.stop()


def start_app(data_dir: Path, inference_url: str | None = None, **extra_env: str) -> AppServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = base_env(data_dir)
    env.update(
        OWNVOICE_HOST="127.0.0.1",
        OWNVOICE_PORT=str(port),
        OWNVOICE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        OWNVOICE_ADMIN_API_KEY=ADMIN_API_KEY,
        OWNVOICE_INFERENCE_URL=inference_url or closed_port_url(),
    )
    env.update(extra_env)
    env = {k: v for k, v in env.items() if v != ""}  # "" in extra_env means "unset"
    process = Process(
        [sys.executable, "-m", "app"], BACKEND_DIR, env, data_dir.parent / f"app-{port}.log"
    )
    server = AppServer(data_dir, env, port, process)
    process.start()
    try:
        process.wait_for(server.url + "/api/health", APP_START_TIMEOUT_S)
    except Exception:
        process.stop()
        raise
    return server


def start_app_on(
    inference: InferenceServer, data_dir: Path, via: str | None = None, **extra_env: str
) -> AppServer:
    """An app server of its own (own data dir) using `inference`, with the token the service
    wrote; `via` is another URL to reach it by (a proxy)."""
    return start_app(
        data_dir,
        inference_url=via or inference.url,
        OWNVOICE_INFERENCE_TOKEN=inference.token,
        **extra_env,
    )


@dataclass
class InferenceServer:
    url: str
    process: Process
    data_dir: Path | None = None

    @property
    def token(self) -> str:
        return inference_token(self.data_dir)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.process.stop()

    def start_again(self, timeout: float = 300) -> None:
        """Start it again on the same port and data (after `process.kill()`); wait for ready."""
        self.process.start()
        wait_until_ready(self, self.data_dir, timeout)  # type: ignore[arg-type]


def inference_token(data_dir: Path) -> str:
    """The bearer token the inference service wrote under its data dir ("" before it has)."""
    token_file = data_dir / "secrets" / "inference_token"
    return token_file.read_text().strip() if token_file.exists() else ""


def wait_until_ready(server: InferenceServer, data_dir: Path, timeout: float) -> None:
    process = server.process
    process.wait_for(server.url + "/health", timeout)
    deadline = time.monotonic() + 30
    while not inference_token(data_dir):
        if time.monotonic() > deadline:
            raise RuntimeError("the inference service did not write its token")
        time.sleep(0.1)
    token = inference_token(data_dir)
    process.wait_for(
        server.url + "/ready",
        timeout,
        ok=lambda r: r.status_code == 200 and r.json().get("ready") is True,
        headers={"Authorization": f"Bearer {token}"},
    )


def start_inference(
    data_dir: Path,
    timeout: float = 300,
    port: int | None = None,
    ray_replicas: int | None = None,
    **extra_env: str,
) -> InferenceServer:
    """The real inference service on the tiny random XTTS checkpoint; with `ray_replicas`, that
    many replicas of it on a local Ray cluster (`python -m ownvoice_ai.serve`, as
    `OWNVOICE_INFERENCE=ray make start` runs it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = base_env(data_dir)
    env.update(
        OWNVOICE_DEMO_MODEL="tiny",
        OWNVOICE_AI_PORT=str(port),
        OWNVOICE_AI_HOST="127.0.0.1",
        COQUI_TOS_AGREED="1",
        # The random tiny model never emits a stop token: bound each sentence.
        OWNVOICE_XTTS_FIXED_TOKENS="24",
        # Its noise would fail speech recognition on every take; tests that check verification
        # (with the stock Piper voice) pass OWNVOICE_VERIFY="on".
        OWNVOICE_VERIFY="off",
    )
    module = "ownvoice_ai"
    if ray_replicas is not None:
        module = "ownvoice_ai.serve"
        env.update(OWNVOICE_RAY_REPLICAS=str(ray_replicas), OWNVOICE_RAY_PORT=str(free_port()))
    env.update(extra_env)
    process = Process(
        [str(AI_PYTHON), "-m", module],
        AI_SERVICE_DIR,
        env,
        data_dir.parent / f"inference-{port}.log",
        # the Ray launcher stops its cluster on SIGTERM: give it time, a SIGKILL would orphan it
        stop_timeout=15 if ray_replicas is None else 120,
    )
    server = InferenceServer(f"http://127.0.0.1:{port}", process, data_dir)
    process.start()
    try:
        wait_until_ready(server, data_dir, timeout)
    except Exception:
        process.stop()
        raise
    return server


@contextmanager
def serving(app: object, timeout: float = 30) -> Iterator[str]:
    """An ASGI app under uvicorn on a thread, on a free loopback port: yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
