"""`python -m ownvoice_ai`: bad configuration ends with one clear line and exit code 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.conftest import AI_SERVICE_DIR


def run_cli(tmp_path, **env):
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OWNVOICE_", "XTTS_", "COQUI_"))
    }
    full_env.update(
        {"PYTHONPATH": str(AI_SERVICE_DIR), "OWNVOICE_DATA_DIR": str(tmp_path / "data"), **env}
    )
    return subprocess.run(
        [sys.executable, "-m", "ownvoice_ai"],
        check=False,
        cwd=AI_SERVICE_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(tmp_path, OWNVOICE_AI_PORT=str(port))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port}" in lines[0] and "in use" in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_model_dir(tmp_path):
    result = run_cli(tmp_path, XTTS_MODEL_DIR=str(tmp_path / "nowhere"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "XTTS_MODEL_DIR" in lines[0]


def test_invalid_setting(tmp_path):
    result = run_cli(tmp_path, OWNVOICE_AI_PORT="eighty")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "OWNVOICE_AI_PORT" in result.stderr
