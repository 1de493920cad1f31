"""Error bodies in the shape each API family's clients expect.

- `/api/...`: FastAPI style `{"detail": ...}`, plus `"code"` when the error has one.
- ElevenLabs-compatible `/v1/...` and `/v2/...`: `{"detail": {"status": "...", "message": "..."}}`.
- OpenAI-compatible `/v1/audio/...`: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from app.services.errors import DomainError

STATUS_NAMES = {
    400: "bad_request",
    401: "invalid_api_key",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    502: "upstream_error",
    503: "service_unavailable",
    507: "insufficient_storage",
}
OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


# A validation error names where and what, never the input: a huge or secret value must not
# come back (or be logged by a proxy). Bounded: a few errors, short strings.
MAX_VALIDATION_ERRORS = 10
MAX_ERROR_TEXT = 200


def _short(value: Any) -> Any:
    if isinstance(value, int):
        return value
    text = str(value)
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "..."


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI validation errors as `{type, loc, msg}` only (no `input`, no `ctx`)."""
    details = [
        {
            "type": _short(err.get("type", "invalid")),
            "loc": [_short(part) for part in err.get("loc", ())][:10],
            "msg": _short(err.get("msg", "Invalid value.")),
        }
        for err in errors[:MAX_VALIDATION_ERRORS]
        if isinstance(err, Mapping)
    ]
    if len(errors) > MAX_VALIDATION_ERRORS:
        more = len(errors) - MAX_VALIDATION_ERRORS
        details.append({"type": "more_errors", "loc": [], "msg": f"and {more} more errors"})
    return details


def is_openai_path(path: str) -> bool:
    return path.startswith("/v1/audio/")


def is_elevenlabs_path(path: str) -> bool:
    return path.startswith(("/v1/", "/v2/")) and not is_openai_path(path)


def _message(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict) and "message" in detail:
        return str(detail["message"])
    if isinstance(detail, list):  # validation errors
        return (
            "; ".join(
                f"{'.'.join(str(p) for p in err.get('loc', ()) if p != 'body')}: {err.get('msg')}"
                for err in detail
                if isinstance(err, dict)
            )
            or "Invalid request."
        )
    return str(detail)


def error_response(
    request: Request,
    status_code: int,
    detail: Any,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    path = request.url.path
    if isinstance(detail, dict) and "status" in detail and "message" in detail:
        code = code or str(detail["status"])
    name = code or STATUS_NAMES.get(status_code, "error")
    if is_openai_path(path):
        kind = OPENAI_TYPES.get(
            status_code, "server_error" if status_code >= 500 else "invalid_request_error"
        )
        body: Any = {
            "error": {"message": _message(detail), "type": kind, "param": None, "code": name}
        }
    elif is_elevenlabs_path(path):
        body = {"detail": {"status": name, "message": _message(detail)}}
    else:
        body = {
            "detail": detail
            if not isinstance(detail, dict) or "message" not in detail
            else detail["message"]
        }
        if code:
            # Machine-readable beside the message, e.g. "inference_unreachable" (wait, retry).
            body["code"] = code
    return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)


def domain_error_response(request: Request, exc: DomainError) -> JSONResponse:
    """The one answer to a domain error (app.services.errors), shaped for the request's API
    surface: its status, its message (ElevenLabs' own wording where it has one), its code and
    Retry-After."""
    message, code = exc.message, exc.code
    if is_elevenlabs_path(request.url.path):
        message, code = exc.for_elevenlabs()
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return error_response(request, exc.status_code, message, code=code, headers=headers)
