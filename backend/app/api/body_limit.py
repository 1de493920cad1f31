"""Request bodies are capped before they are read, and before authentication.

A pure ASGI middleware: it picks the cap for the request from its route class and whether it
carries credentials, refuses at once (413) when Content-Length says more, and otherwise counts
bytes as `receive` hands them over, chunked bodies included, raising 413 the moment the count
passes the cap. Nothing past the cap is buffered.

An answer given before the whole body was read (401, 413, 415...) is sent at once; then the rest
of the body is read and dropped, only while the client keeps sending, before the connection is
closed. Closing a socket with unread bytes in it makes the kernel reset the connection, and a
client that sends its whole body before reading (most do, httpx and the SDKs built on it among
them) would get that reset instead of the answer, or only part of the answer. How much is dropped:
- a chunked body: at most `max(cap, LINGER_BYTES)` more bytes;
- a body with a Content-Length, which cannot run past it: all of it when it is at most
  `cap + max(cap, LINGER_BYTES)` long (a file a little over the limit, the usual mistake, gets
  its 413, unless the client is still sending after `LINGER_S`); a longer one is not read at
  all, and the connection closes right after the answer.

Credentials are judged by their presence (an Authorization or xi-api-key header, the session
cookie), not validated: validating would cost a database lookup, and a pooled connection, for
every request before its body, and would add nothing. A forged header only unlocks the route's
own cap, and every route with a large cap authenticates from headers before it reads its body,
so a forged credential is answered 401 having sent at most one network chunk of the body; on
JSON routes FastAPI reads the body (at most the JSON cap) before it authenticates.
"""

from __future__ import annotations

import contextlib

import anyio
from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.error_shapes import error_response
from app.core.config import Settings
from app.core.limits import UPLOADS  # the one table of upload sizes
from app.core.security import SESSION_COOKIE

CLOSE = {"Connection": "close"}  # the rest of the body is not read: end the connection
LINGER_BYTES = 4 * 1024 * 1024  # an early answer reads and drops at least this much more body
LINGER_IDLE_S = 2.0  # ...while the client keeps sending: a pause this long ends it
LINGER_S = 30.0  # ...and for this long at most


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
        self.cap = refusal.cap
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


async def drain_body(receive: Receive, budget: int | None = None) -> bool:
    """Read and drop the rest of a request body, `budget` bytes at most: True once it has all
    arrived, False if the client left or sent more than the budget."""
    dropped = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return False
        dropped += len(message.get("body", b""))
        if budget is not None and dropped > budget:
            return False
        if not message.get("more_body", False):
            return True


async def _linger(scope: Scope, receive: Receive, counted: _CountingReceive) -> None:
    """After an early answer: drop what the client still sends, within the bounds above."""
    budget = max(counted.cap, LINGER_BYTES)
    declared = _declared_length(scope)
    if declared is not None:
        if declared > counted.cap + budget:
            return  # too long to drop: close now
        budget = declared - counted.received  # the client stops there

    async def patient() -> Message:
        with anyio.fail_after(LINGER_IDLE_S):
            return await receive()

    with anyio.move_on_after(LINGER_S), contextlib.suppress(TimeoutError):
        await drain_body(patient, budget)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = body_cap(scope, self.settings)
        counted = _CountingReceive(receive, refusal)
        send = _EarlyAnswer(scope, receive, send, counted)
        declared = _declared_length(scope)
        if declared is not None and declared > refusal.cap:
            await self._refuse(scope, receive, send, refusal)
            return
        try:
            await self.app(scope, counted, send)
        except BodyTooLarge as exc:  # read outside FastAPI's body handling (e.g. a stream)
            if send.started:
                raise
            await self._refuse(scope, receive, send, exc)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
        response = error_response(Request(scope), 413, exc.detail, headers=exc.headers)
        await response(scope, receive, send)


class _EarlyAnswer:
    """`send` for an answer that may come before the body is read: it closes the connection
    (the body is not read to its end), and lingers before the last message (module docstring)."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, counted: _CountingReceive):
        self._scope, self._receive, self._send, self._counted = scope, receive, send, counted
        self.started = False
        self._early = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self._early = _has_body(self._scope) and not self._counted.complete
            if self._early:
                message = _with_close(message)
        elif (
            self._early
            and message["type"] == "http.response.body"
            and not message.get("more_body", False)
        ):
            await self._send({**message, "more_body": True})  # the answer goes out now
            await _linger(self._scope, self._receive, self._counted)
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await self._send(message)
