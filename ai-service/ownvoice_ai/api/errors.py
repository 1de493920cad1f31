"""Errors as the contract shapes them: {"detail": {"code": "<snake_case>", "message": "<what to do>"}}.

The one place where the service's domain errors (ownvoice_ai/errors.py) become status codes.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .. import errors
from ..prepare import VoiceRejected

HTTP_STATUS: dict[type[errors.ServiceError], int] = {
    errors.NoVoiceNamed: 400,
    errors.VoicePathRefused: 400,
    errors.InvalidVoiceId: 400,
    errors.LanguageUnsupported: 400,
    errors.NothingToSay: 400,
    errors.InvalidText: 400,
    errors.UnknownVoice: 404,
    errors.TooMuchText: 413,
    errors.UploadTooLarge: 413,
    errors.Busy: 429,
    errors.GenerationFailed: 500,
    errors.ConditioningFailed: 500,
    errors.CloningUnavailable: 503,
    errors.CancelledBeforeStart: 503,
    errors.StartTimedOut: 504,
    errors.ConditioningTimedOut: 504,
}


def status_of(error: errors.ServiceError) -> int:
    return next((HTTP_STATUS[kind] for kind in type(error).__mro__ if kind in HTTP_STATUS), 500)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"detail": {"code": code, "message": message}}, headers=headers
    )


async def _service_error(_: Request, error: errors.ServiceError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s is not None else None
    return error_response(status_of(error), error.code, error.message, headers)


async def _voice_rejected(_: Request, rejected: VoiceRejected) -> JSONResponse:
    """A reference recording that cannot be used: prepare.py chose the status with the reason."""
    return error_response(rejected.status_code, rejected.code, rejected.message)


async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ()) if part != 'body')}: {problem.get('msg')}"
        for problem in error.errors()
    )
    return error_response(422, "invalid_request", f"Fix the request: {problems}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(errors.ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(VoiceRejected, _voice_rejected)  # type: ignore[arg-type]
