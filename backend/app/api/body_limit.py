"""Request bodies are capped before they are read, and before authentication.

A pure ASGI middleware: it picks the cap for the request from its route class and whether it
carries credentials, refuses at once (413) when Content-Length says more, and otherwise counts
bytes as `receive` hands them over, chunked bodies included, raising 413 the moment the count
passes the cap. Nothing past the cap is buffered; the 413 closes the connection, so the rest of
an oversized body is never read either.

Credentials are judged by their presence (an Authorization or xi-api-key header, the session
cookie), not validated: validating would cost a database lookup, and a pooled connection, for
every request before its body, and would add nothing. A forged header only unlocks the route's
own cap, and every route with a large cap authenticates from headers before it reads its body,
so a forged credential is answered 401 having sent at most one network chunk of the body; on
JSON routes FastAPI reads the body (at most the JSON cap) before it authenticates.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.error_shapes import error_response
from app.core.config import Settings
from app.core.limits import UPLOADS  # the one table of upload sizes
from app.core.security import SESSION_COOKIE


CLOSE = {"Connection": "close"}  # the rest of the body is not read: end the connection


def has_credentials(headers: Headers) -> bool:
    if headers.get("authorization") or headers.get("xi-api-key"):
        return True
    return SESSION_COOKIE in cookie_parser(headers.get("cookie", ""))


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{max(n // 1024, 1)} KB"


class BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI re-raises HTTPExceptions from body reading, and the app's
    handler answers 413 in the shape of the route's API surface."""

    def __init__(self, cap: int, message: str) -> None:
        super().__init__(413, detail=message, headers=CLOSE)
        self.cap = cap


def body_cap(scope: Scope, settings: Settings) -> BodyTooLarge:
    """The refusal for this request's body, carrying its cap: chosen by whether the request
    carries credentials and by its route class."""
    if not has_credentials(Headers(scope=scope)):
        cap = settings.max_anonymous_body_bytes
        return BodyTooLarge(
            cap,
            f"The request body is larger than {_size(cap)}, the most a request without "
            "credentials may send: sign in or send an API key first.",
        )
    upload = UPLOADS.get(scope["path"].rstrip("/")) if scope["method"] == "POST" else None
    if upload is not None:
        limit = _size(upload.limit(settings))
        return BodyTooLarge(
            upload.cap(settings), f"The upload is larger than {limit}: {upload.advice}."
        )
    cap = settings.max_json_body_bytes
    return BodyTooLarge(
        cap,
        f"The request body is larger than {_size(cap)}, the most this route accepts: send "
        "less (a shorter text).",
    )


class _CountingReceive:
    def __init__(self, receive: Receive, refusal: BodyTooLarge) -> None:
        self._receive, self._refusal = receive, refusal
        self.received = 0
        self.complete = False  # the whole body has arrived

    async def __call__(self) -> Message:
        if self.received > self._refusal.cap:
            raise self._refusal
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self.received > self._refusal.cap:
                raise self._refusal
        return message


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _has_body(scope: Scope) -> bool:
    return bool(_declared_length(scope)) or "transfer-encoding" in Headers(scope=scope)


def _with_close(message: Message) -> Message:
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
    return {**message, "headers": [*headers, (b"connection", b"close")]}


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = body_cap(scope, self.settings)
        declared = _declared_length(scope)
        if declared is not None and declared > refusal.cap:
            await self._refuse(scope, receive, send, refusal)
            return
        counted = _CountingReceive(receive, refusal)
        unread_body = _has_body(scope)
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if unread_body and not counted.complete:
                    # Answered before the body was read (401, 413, 400): the rest is never
                    # read, so the connection cannot carry another request.
                    message = _with_close(message)
            await send(message)

        try:
            await self.app(scope, counted, send_started)
        except BodyTooLarge as exc:  # read outside FastAPI's body handling (e.g. a stream)
            if started:
                raise
            await self._refuse(scope, receive, send, exc)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
        response = error_response(Request(scope), 413, exc.detail, headers=exc.headers)
        await response(scope, receive, send)
