#!/usr/bin/env python3
"""Run Ownvoice: the inference service and the app server, supervised together.

`make start` installs what is missing and then runs this script. It starts the
inference service on 127.0.0.1 and the app server (which serves the built web
app), prints where to open it, and keeps both alive together: Ctrl-C (or
SIGTERM) stops both cleanly. If one of them crashes it alone is restarted after
a back-off (1, 2, 4 ... 30 s, reset once it has run for a healthy minute) while
the other keeps serving; what happened is printed. A child that exits with code
2 (a configuration problem it has already explained) or keeps crashing stops
everything. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]
STOP_GRACE_SECONDS = 10
READY_TIMEOUT_SECONDS = 600
LICENSE_URL = "https://coqui.ai/cpml"
STOPPING = threading.Event()  # set by Ctrl-C / SIGTERM
EXIT_CONFIG = 2  # both services exit with it on bad configuration: restarting cannot help
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
HEALTHY_SECONDS = 60.0  # a child up this long starts its back-off from the beginning again
MAX_QUICK_CRASHES = 8  # in a row, none up for a healthy minute: give up (about 2 minutes)


@dataclass
class Service:
    name: str
    label: str
    cwd: Path
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20))
    started_at: float = 0.0  # monotonic
    crashes: int = 0  # in a row, each before a healthy minute
    restart_at: float | None = None  # monotonic; set while it waits out its back-off


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=os.environ.get("OWNVOICE_DATA_DIR", str(ROOT / "data"))
    )
    parser.add_argument("--host", default=os.environ.get("OWNVOICE_HOST", "127.0.0.1"))
    parser.add_argument(
        "--app-port", type=int, default=int(os.environ.get("OWNVOICE_PORT", "8080"))
    )
    parser.add_argument(
        "--inference-port", type=int, default=int(os.environ.get("OWNVOICE_AI_PORT", "8000"))
    )
    parser.add_argument(
        "--skip-install",
        action="store_true",
        help="don't run `make install` first (make start already did)",
    )
    return parser.parse_args()


def fail(message: str) -> NoReturn:
    print(f"ownvoice: {message}", file=sys.stderr)
    sys.exit(2)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(args: argparse.Namespace) -> None:
    for label, host, port, flag in (
        ("the app", args.host, args.app_port, "--app-port / OWNVOICE_PORT"),
        (
            "the inference service",
            "127.0.0.1",
            args.inference_port,
            "--inference-port / OWNVOICE_AI_PORT",
        ),
    ):
        if not port_is_free(host, port):
            fail(
                f"port {port} for {label} is in use: stop what runs there or choose another with {flag}."
            )


def model_is_configured(env: dict[str, str], data_dir: Path) -> bool:
    if env.get("OWNVOICE_DEMO_MODEL") or env.get("XTTS_MODEL_DIR"):
        return True
    if env.get("COQUI_TOS_AGREED") == "1":
        return True
    return (data_dir / "models").is_dir() and any((data_dir / "models").iterdir())


def ask_license(env: dict[str, str], data_dir: Path) -> None:
    """Voice cloning needs XTTS v2, whose weights come under the non-commercial CPML."""
    if model_is_configured(env, data_dir) or not sys.stdin.isatty():
        return
    print(
        "Voice cloning uses Coqui XTTS v2. Its weights (1.9 GB, downloaded once) are licensed under the\n"
        f"non-commercial Coqui Public Model License: {LICENSE_URL}\n"
        "Stock voices work without it. Set COQUI_TOS_AGREED=1 to skip this question."
    )
    answer = input("Do you accept the CPML and want to download XTTS v2? [y/N] ").strip().lower()
    if answer in ("y", "yes"):
        env["COQUI_TOS_AGREED"] = "1"


def inference_module(env: dict[str, str]) -> str:
    """OWNVOICE_INFERENCE=ray: a local Ray head with OWNVOICE_RAY_REPLICAS replicas of the
    inference service behind one URL (README, Scaling); else the single service."""
    mode = env.get("OWNVOICE_INFERENCE", "single")
    if mode not in ("single", "ray"):
        fail(f"OWNVOICE_INFERENCE must be 'single' or 'ray', not {mode!r}")
    return "ownvoice_ai.serve" if mode == "ray" else "ownvoice_ai"


def build_services(args: argparse.Namespace, data_dir: Path, env: dict[str, str]) -> list[Service]:
    common = {**env, "OWNVOICE_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    inference = Service(
        name="inference service",
        label="ai ",
        cwd=ROOT / "ai-service",
        argv=[str(ROOT / "ai-service/.venv/bin/python"), "-m", inference_module(env)],
        env={
            **common,
            "OWNVOICE_AI_HOST": "127.0.0.1",
            "OWNVOICE_AI_PORT": str(args.inference_port),
        },
    )
    app = Service(
        name="app server",
        label="app",
        cwd=ROOT / "backend",
        argv=[str(ROOT / "backend/.venv/bin/python"), "-m", "app"],
        env={
            **common,
            "OWNVOICE_HOST": args.host,
            "OWNVOICE_PORT": str(args.app_port),
            "OWNVOICE_INFERENCE_URL": f"http://127.0.0.1:{args.inference_port}",
        },
    )
    for service in (inference, app):
        if not Path(service.argv[0]).exists():
            fail(
                f"{service.name} is not installed ({service.argv[0]} missing): run `make start` or `make install`."
            )
    return [inference, app]


def pump_output(service: Service) -> None:
    assert service.process and service.process.stdout
    for raw in service.process.stdout:
        line = raw.decode(errors="replace").rstrip()
        service.tail.append(line)
        print(f"[{service.label}] {line}", flush=True)


def launch(service: Service) -> None:
    service.started_at, service.restart_at = time.monotonic(), None
    service.process = subprocess.Popen(
        service.argv,
        cwd=service.cwd,
        env=service.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # our own Ctrl-C handling decides when children stop
    )
    threading.Thread(target=pump_output, args=(service,), daemon=True).start()


def stop_all(services: list[Service]) -> None:
    running = [s for s in services if s.process and s.process.poll() is None]
    for service in running:
        os.killpg(service.process.pid, signal.SIGTERM)  # type: ignore[union-attr]
    # a Ray head stops its processes before it exits: give it longer
    grace = STOP_GRACE_SECONDS * (
        6 if any(s.argv[-1] == "ownvoice_ai.serve" for s in running) else 1
    )
    deadline = time.monotonic() + grace
    for service in running:
        try:
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
            service.process.wait()  # type: ignore[union-attr]


def announce_when_up(url: str, app_port: int) -> None:
    """Print where to open the app once it answers (children may crash and restart meanwhile)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not STOPPING.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    print(
                        f"ownvoice: open http://localhost:{app_port} (Ctrl-C stops Ownvoice)",
                        flush=True,
                    )
                    return
        except (urllib.error.URLError, OSError):
            pass
        STOPPING.wait(0.5)


def restart_delay(crashes: int) -> float:
    """Back-off before restart number `crashes` in a row: 1, 2, 4, 8, 16, 30, 30 ... seconds."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, crashes - 1))


def last_words(service: Service) -> str:
    return next((line for line in reversed(service.tail) if line.strip()), "")


def reap_group(service: Service) -> None:
    """A crashed child may leave helpers in its process group: end them with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(service.process.pid, signal.SIGKILL)  # type: ignore[union-attr]


def on_exit(service: Service, code: int, now: float) -> bool:
    """A child exited unasked: schedule its restart; False when restarting cannot help."""
    reap_group(service)
    service.crashes = 1 if now - service.started_at >= HEALTHY_SECONDS else service.crashes + 1
    reason = last_words(service)
    print(f"ownvoice: the {service.name} exited with code {code}.", file=sys.stderr, flush=True)
    if reason:
        print(f"ownvoice: its last words: {reason}", file=sys.stderr, flush=True)
    if code == EXIT_CONFIG:
        print(
            "ownvoice: that is a configuration problem (see above): fix it, then start again.",
            file=sys.stderr,
        )
        return False
    if service.crashes > MAX_QUICK_CRASHES:
        print(
            f"ownvoice: the {service.name} crashed {MAX_QUICK_CRASHES} times in a row: giving up; "
            "see its log above.",
            file=sys.stderr,
        )
        return False
    delay = restart_delay(service.crashes)
    service.restart_at = now + delay
    print(
        f"ownvoice: restarting the {service.name} in {delay:g} s "
        f"(crash {service.crashes} in a row); the other service keeps running.",
        file=sys.stderr,
        flush=True,
    )
    return True


def supervise(services: list[Service]) -> int:
    """Restart crashed children until a signal (exit 0) or a crash restarting cannot fix (1)."""
    while not STOPPING.wait(0.3):
        now = time.monotonic()
        for service in services:
            if service.restart_at is not None:
                if now >= service.restart_at:
                    launch(service)
                    pid = service.process.pid  # type: ignore[union-attr]
                    print(f"ownvoice: restarted the {service.name} (pid {pid}).", flush=True)
                continue
            code = service.process.poll() if service.process else None
            if code is not None and not STOPPING.is_set() and not on_exit(service, code, now):
                others = [s.name for s in services if s is not service]
                print(f"ownvoice: stopping the {', '.join(others)}.", file=sys.stderr, flush=True)
                stop_all(services)
                return 1
    print("\nownvoice: stopping...", flush=True)
    stop_all(services)
    print("ownvoice: stopped.", flush=True)
    return 0


def main() -> int:
    args = parse_args()
    if not args.skip_install:
        subprocess.run(["make", "-s", "install"], cwd=ROOT, check=True)
    data_dir = Path(args.data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    check_ports(args)
    env = dict(os.environ)
    ask_license(env, data_dir)
    services = build_services(args, data_dir, env)
    signal.signal(signal.SIGINT, lambda *_: STOPPING.set())
    signal.signal(signal.SIGTERM, lambda *_: STOPPING.set())
    for service in services:
        launch(service)
    health = f"http://127.0.0.1:{args.app_port}/api/health"
    threading.Thread(target=announce_when_up, args=(health, args.app_port), daemon=True).start()
    return supervise(services)


if __name__ == "__main__":
    sys.exit(main())
