"""`python -m ownvoice_ai`: check the configuration, then serve with uvicorn.

Bad configuration (a port in use, a missing XTTS_MODEL_DIR, an unwritable data directory, an
invalid setting) ends with one line on stderr and exit code 2, not a stack trace.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys

from pydantic import ValidationError

EXIT_CONFIG = 2

# Before torch loads OpenMP: spinning idle threads steal the other core from the vocoder and from
# any other process, which made int8 decode 20-50x slower under load (measured by scripts/bench.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def fail(message: str) -> int:
    print(f"ownvoice-ai: {message}", file=sys.stderr)
    return EXIT_CONFIG


def check_port(host: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use: stop the other process or set OWNVOICE_AI_PORT"
            return f"cannot listen on {host}:{port} ({error.strerror}): set OWNVOICE_AI_HOST/OWNVOICE_AI_PORT"
    return None


def check_data_dir(path) -> str | None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create the data directory {path} ({error.strerror}): set OWNVOICE_DATA_DIR"
    if not os.access(path, os.W_OK):
        return f"the data directory {path} is not writable: fix its permissions or set OWNVOICE_DATA_DIR"
    return None


def main() -> int:
    from .config import Settings
    from .model_source import ModelConfigError, resolve_model_source

    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first.get("loc", ()))
        return fail(f"invalid setting {name}: {first.get('msg')}")
    for problem in (check_data_dir(settings.data_dir), check_port(settings.host, settings.port)):
        if problem:
            return fail(problem)
    if settings.xtts_model_dir is not None:
        try:
            resolve_model_source(settings)
        except ModelConfigError as error:
            return fail(str(error))

    import uvicorn

    from .main import create_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
