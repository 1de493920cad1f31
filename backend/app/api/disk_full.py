"""A full disk answers 507, in the error shape of the API family the request used.

A middleware rather than an exception handler for OSError: only a full disk is turned into
a response, and only while no response has started; every other error passes through as is.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.body_limit import drain_body
from app.api.error_shapes import error_response
from app.core.files import DISK_FULL_MESSAGE, is_disk_full

log = logging.getLogger("ownvoice.app")


class DiskFullMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body_done = False

        async def tracking_receive() -> Message:
            nonlocal body_done
            message = await receive()
            body_done = body_done or not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, tracking_receive, tracking_send)
        except Exception as exc:
            if started or not is_disk_full(exc):
                raise
            log.error("disk full", extra={"path": scope.get("path")})
            # Read (and drop) the rest of an upload, so that the client, still sending, can read
            # the answer: the body limit outside this middleware keeps that bounded by the cap.
            if not body_done and not await drain_body(tracking_receive):
                return
            response = error_response(
                Request(scope), 507, DISK_FULL_MESSAGE, code="insufficient_storage"
            )
            await response(scope, receive, send)
