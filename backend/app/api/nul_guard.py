"""A NUL character (%00) in the address is refused with 400 before any route sees it.

Path and query parameters are ids and options, never text with control characters; PostgreSQL
cannot even look a NUL up (SQLite can), so without this a `GET /api/books/%00` would be a 404
on one database and a 500 on the other. Request bodies are checked by their schemas
(app.schemas.text).
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.error_shapes import error_response

NUL_MESSAGE = "The address contains a NUL character (%00): remove it from the path or query."


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            response = error_response(Request(scope), 400, NUL_MESSAGE, code="invalid_request")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    return "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b""))
