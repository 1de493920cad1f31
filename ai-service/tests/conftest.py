"""Shared fixtures: the tiny random XTTS checkpoint, real speech, the app in-process and over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

AI_SERVICE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = AI_SERVICE_DIR.parent
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"
sys.path.insert(0, str(AI_SERVICE_DIR))

os.environ.setdefault("OMP_NUM_THREADS", "1")

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeClock:
    """A clock that moves only when a test moves it: durations without waiting for them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def taking(self, seconds: float, samples: int = 100):
        """A stand-in synthesis that "takes" `seconds` on this clock and returns `samples`."""

        def run() -> int:
            self.now += seconds
            return samples

        return run


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    """ai-service/checkpoints/tiny, built once if missing (about 10 s)."""
    from ownvoice_ai.model_source import missing_files
    from ownvoice_ai.random_checkpoints import DEFAULT_CHECKPOINTS_DIR, build_checkpoint

    path = DEFAULT_CHECKPOINTS_DIR / "tiny"
    if missing_files(path):
        build_checkpoint("tiny", path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from ownvoice_ai.checkpoints import load_checkpoint

    return load_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="session")
def ljspeech_wavs() -> list[Path]:
    wavs = sorted((SHARED_DATA / "speech" / "ljspeech").glob("*.wav"))
    assert wavs, f"test speech missing under {SHARED_DATA}"
    return wavs


@pytest.fixture(scope="session")
def librispeech_speakers() -> dict[str, list[Path]]:
    root = SHARED_DATA / "speech" / "librispeech"
    return {d.name: sorted(d.glob("*.flac")) for d in sorted(root.iterdir()) if d.is_dir()}


def make_settings(data_dir: Path, **overrides):
    from ownvoice_ai.config import Settings

    values = {
        "data_dir": data_dir,
        "demo_model": "tiny",
        "inference_token": TOKEN,
        "xtts_fixed_tokens": 24,
        "torch_threads": 1,
        "load_piper": False,
        "verify": False,  # speech recognition of every batch item: on in test_verify*.py
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client_factory(tiny_checkpoint, tmp_path):
    """In-process app (real lifespan, real model) through Starlette's TestClient (httpx)."""
    from fastapi.testclient import TestClient

    from ownvoice_ai.main import create_app

    clients = []

    def factory(**overrides):
        settings = make_settings(overrides.pop("data_dir", tmp_path / "data"), **overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"
        full_env = {
            **os.environ,
            "PYTHONPATH": str(AI_SERVICE_DIR),
            "OWNVOICE_DATA_DIR": str(data_dir),
            "OWNVOICE_AI_PORT": str(self.port),
            "OWNVOICE_INFERENCE_TOKEN": TOKEN,
            "OWNVOICE_DEMO_MODEL": "tiny",
            "OWNVOICE_TORCH_THREADS": "1",
            "OWNVOICE_LOAD_PIPER": "0",
            "OWNVOICE_VERIFY": "off",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ownvoice_ai"],
            cwd=AI_SERVICE_DIR,
            env=full_env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(
        self, timeout_s: float = 300.0
    ) -> dict:  # a deadline: generous for loaded machines
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                response = httpx.get(f"{self.url}/ready", headers=AUTH, timeout=2)
                if response.status_code == 200:
                    return response.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server not ready: {self.log.read_text()[-2000:]}")

    def ready(self) -> dict:
        return httpx.get(f"{self.url}/ready", headers=AUTH, timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def live_server_factory(tiny_checkpoint, tmp_path_factory) -> Iterator:
    """uvicorn in a subprocess on a free port: real HTTP streaming and real disconnects."""
    servers: list[LiveServer] = []

    def factory(data_dir: Path | None = None, **env: str) -> LiveServer:
        """A new server; on `data_dir` (a stopped server's) it finds that server's voices."""
        server = LiveServer(data_dir or tmp_path_factory.mktemp("live") / "data", env)
        servers.append(server)
        server.wait_ready()
        return server

    yield factory
    for server in servers:
        server.stop()
