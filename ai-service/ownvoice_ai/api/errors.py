"""Errors as the contract shapes them: {"detail": {"code": "<snake_case>", "message": "<what to do>"}}."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def api_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail={"code": code, "message": message}, headers=headers)


async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ()) if part != 'body')}: {problem.get('msg')}"
        for problem in error.errors()
    )
    return JSONResponse(
        status_code=422,
        content={"detail": {"code": "invalid_request", "message": f"Fix the request: {problems}"}},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
