"""`scripts/start.py`, the process supervisor behind `make start`, as a user meets it.

Both services start together; Ctrl-C stops both cleanly; a crashed service is restarted with a
back-off while the other keeps serving, and what happened is printed; a port in use is one clear
line, not a stack trace.
"""

from __future__ import annotations

import importlib.util
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
    env = {
        **os.environ,
        "OWNVOICE_DEMO_MODEL": "tiny",
        "OWNVOICE_ADMIN_PASSWORD": "supervisor-test",
    }
    env["OWNVOICE_ADMIN_API_KEY"] = E2E_API_KEY  # _health's key: details need one
    return subprocess.Popen(
        [
            sys.executable,
            str(REPO / "scripts" / "start.py"),
            "--skip-install",
            "--host",
            "127.0.0.1",
            "--data-dir",
            str(data_dir),
            "--app-port",
            str(app_port),
            "--inference-port",
            str(inference_port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
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


def _child_pid(data_dir: Path, marker: bytes) -> int:
    """The service started for this data directory whose command line holds `marker` (read
    from /proc, as root may)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker in cmdline and f"OWNVOICE_DATA_DIR={data_dir}".encode() in environ:
            return int(proc.name)
    raise AssertionError(f"no process {marker!r} found")


def _inference_pid(data_dir: Path) -> int:
    return _child_pid(data_dir, b"ownvoice_ai")


def _app_pid(data_dir: Path) -> int:
    return _child_pid(data_dir, b"app")


def _wait_for(condition, what: str, supervisor: Supervisor, timeout_s: float = STARTUP_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert supervisor.process.poll() is None, supervisor.output()
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout_s} s:\n{supervisor.output()[-3000:]}")


def _pid_or_none(find, data_dir: Path) -> int | None:
    try:
        return find(data_dir)
    except AssertionError:
        return None


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


def _start_module():
    spec = importlib.util.spec_from_file_location("ownvoice_start", REPO / "scripts" / "start.py")
    start = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = start  # dataclasses look their module up there
    spec.loader.exec_module(start)  # type: ignore[union-attr]
    return start


def test_back_off_doubles_up_to_thirty_seconds_and_a_healthy_minute_resets_it() -> None:
    start = _start_module()
    assert [start.restart_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]
    service = start.Service("app server", "app", REPO, ["true"], {})
    service.process = subprocess.Popen(["true"], start_new_session=True)
    service.process.wait()
    delays = []
    for _ in range(start.MAX_QUICK_CRASHES):  # each crash within a minute of its start
        assert start.on_exit(service, -9, now=service.started_at + 5)
        delays.append(service.restart_at - (service.started_at + 5))
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert not start.on_exit(service, -9, now=service.started_at + 5)  # gives up
    service.crashes, service.started_at = 5, 0.0
    assert start.on_exit(service, -9, now=61.0) and service.restart_at == 62.0  # healthy: from 1 s
    assert not start.on_exit(service, 2, now=200.0)  # a configuration problem: no restart


def test_a_crashed_service_is_restarted_and_the_other_keeps_serving(tmp_path: Path) -> None:
    data_dir = (tmp_path / "data").resolve()
    app_port, inference_port = free_port(), free_port()
    supervisor = Supervisor(data_dir, app_port, inference_port)
    _wait_ready(supervisor, app_port)
    app_pid, inference_pid = _app_pid(data_dir), _inference_pid(data_dir)

    # The inference service dies: it alone comes back; the app answers all along.
    killed = time.monotonic()
    os.kill(inference_pid, signal.SIGKILL)
    down = _wait_for(
        lambda: (h := _health(f"http://127.0.0.1:{app_port}")) and not h["inference"]["ready"],
        "the app did not report the inference service down",
        supervisor,
        30,
    )
    assert down
    _wait_ready(supervisor, app_port)
    inference_back_s = time.monotonic() - killed
    assert _app_pid(data_dir) == app_pid
    assert _inference_pid(data_dir) != inference_pid
    output = supervisor.output()
    assert "ownvoice: the inference service exited with code -9." in output
    assert "ownvoice: restarting the inference service in 1 s (crash 1 in a row)" in output
    assert "ownvoice: restarted the inference service" in output

    # The app server dies: it comes back on the same port; the inference service stays.
    inference_pid = _inference_pid(data_dir)
    killed = time.monotonic()
    os.kill(app_pid, signal.SIGKILL)
    _wait_for(
        lambda: _pid_or_none(_app_pid, data_dir) not in (None, app_pid),
        "the app server was not restarted",
        supervisor,
        30,
    )
    _wait_ready(supervisor, app_port)
    app_back_s = time.monotonic() - killed
    assert _inference_pid(data_dir) == inference_pid
    assert "ownvoice: restarting the app server in 1 s (crash 1 in a row)" in supervisor.output()
    print(
        f"\ntime to recover: inference service {inference_back_s:.1f} s, app server {app_back_s:.1f} s"
    )

    supervisor.process.send_signal(signal.SIGINT)
    code, output = supervisor.finish()
    assert code == 0, output
    assert not _listening(app_port) and not _listening(inference_port)
