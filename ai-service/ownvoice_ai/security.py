"""The bearer token the app server uses to call this service.

`OWNVOICE_INFERENCE_TOKEN` wins; otherwise the token lives in `DATA_DIR/secrets/inference_token`
(mode 0600), created by whichever of the two services starts first. Creation is race-free: the
token is written to a private temp file and hard-linked into place, which fails if the other
service got there first, and then both read the one file. A reader never sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

TOKEN_FILENAME = "inference_token"


def read_or_create_token(secrets_dir: Path) -> str:
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / TOKEN_FILENAME
    if not path.exists():
        _create_token_file(path)
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise RuntimeError(
            f"{path} is empty: delete it and restart both services to generate a new token"
        )
    return token


def _create_token_file(path: Path) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)  # atomic, and fails if the other service created it first
    finally:
        temp.unlink(missing_ok=True)


def resolve_token(configured: str | None, secrets_dir: Path) -> str:
    return configured if configured else read_or_create_token(secrets_dir)


_bearer = HTTPBearer(auto_error=False)


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    expected: str = request.app.state.token
    given = credentials.credentials if credentials else ""
    if not given or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail={
                "code": "unauthorized",
                "message": "Send 'Authorization: Bearer <token>' with the token from "
                "DATA_DIR/secrets/inference_token or OWNVOICE_INFERENCE_TOKEN.",
            },
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorized = Depends(require_token)
