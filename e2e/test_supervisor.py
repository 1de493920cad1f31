"""`scripts/start.py`, the process supervisor behind `make start`, as a user meets it.

Both services start together; Ctrl-C stops both cleanly; if one dies the other is stopped and
the reason is printed; a port in use is one clear line, not a stack trace.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import E2E_API_KEY, REPO, _health, free_port

STARTUP_TIMEOUT_S = 300


class Supervisor:
    """scripts/start.py running in the background, its output in a file (a pipe could fill up)."""

    def __init__(self, data_dir: Path, app_port: int, inference_port: int) -> None:
        self.log = data_dir.parent / "start.log"
        with self.log.open("w") as log:
            self.process = _start(data_dir, app_port, inference_port, log)

    def output(self) -> str:
        return self.log.read_text()

    def finish(self, timeout_s: float = 60) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout_s)
        return code, self.output()


def _start(data_dir: Path, app_port: int, inference_port: int, log) -> subprocess.Popen:
    env = {**os.environ, "OWNVOICE_DEMO_MODEL": "tiny", "OWNVOICE_ADMIN_PASSWORD": "supervisor-test"}
    env["OWNVOICE_ADMIN_API_KEY"] = E2E_API_KEY  # _health's key: details need one
    return subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "start.py"), "--skip-install", "--host", "127.0.0.1",
         "--data-dir", str(data_dir), "--app-port", str(app_port), "--inference-port", str(inference_port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )


def _wait_ready(supervisor: Supervisor, app_port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        health = _health(f"http://127.0.0.1:{app_port}")
        if health and health.get("inference", {}).get("ready"):
            return
        assert supervisor.process.poll() is None, supervisor.output()
        time.sleep(1)
    raise AssertionError("the app did not become ready")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _inference_pid(data_dir: Path) -> int:
    """The inference service started for this data directory (read from /proc, as root may)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"ownvoice_ai" in cmdline and f"OWNVOICE_DATA_DIR={data_dir}".encode() in environ:
            return int(proc.name)
    raise AssertionError("no inference service process found")


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        code, output = Supervisor(tmp_path / "data", taken, free_port()).finish()
    assert code == 2
    assert output.strip().splitlines() == [
        f"ownvoice: port {taken} for the app is in use: stop what runs there or choose another with "
        "--app-port / OWNVOICE_PORT."
    ]


def test_ctrl_c_stops_both_services(tmp_path: Path) -> None:
    app_port, inference_port = free_port(), free_port()
    supervisor = Supervisor(tmp_path / "data", app_port, inference_port)
    _wait_ready(supervisor, app_port)
    supervisor.process.send_signal(signal.SIGINT)
    code, output = supervisor.finish()
    assert code == 0, output
    assert "ownvoice: stopped." in output
    assert not _listening(app_port) and not _listening(inference_port)


def test_when_one_service_dies_the_other_is_stopped_with_the_reason(tmp_path: Path) -> None:
    data_dir = (tmp_path / "data").resolve()
    app_port, inference_port = free_port(), free_port()
    supervisor = Supervisor(data_dir, app_port, inference_port)
    _wait_ready(supervisor, app_port)
    os.kill(_inference_pid(data_dir), signal.SIGKILL)
    code, output = supervisor.finish()
    assert code == 1
    assert "ownvoice: the inference service exited with code -9; stopping the app server." in output
    assert not _listening(app_port)
