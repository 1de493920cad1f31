"""What a browser needs to keep a logged-in user safe: security headers on every response,
an Origin check on state-changing requests, Secure cookies over HTTPS, and the real client
address and scheme behind a trusted reverse proxy (README "Limits and security").
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api.error_shapes import error_response
from app.core.config import Settings

# The built web app: its own scripts and styles only (Vite emits no inline ones), audio from
# the API or from blob: URLs (recorder preview), fetch to its own origin, never framed.
APP_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# FastAPI's /docs and /redoc pages load their viewers from a CDN with an inline script.
DOCS_PATHS = ("/docs", "/redoc")
DOCS_CSP = "frame-ancestors 'none'"
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalized_origin(url: str | None) -> str | None:
    """`scheme://host:port` of an http(s) URL or Origin value; None if it is not one."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return f"{scheme}://{parts.hostname}:{port or DEFAULT_PORTS[scheme]}"


def is_https(request: Request, settings: Settings) -> bool:
    """Whether the browser talks to us over HTTPS (directly, via a trusted proxy, or as
    OWNVOICE_PUBLIC_URL says)."""
    public = settings.public_url or ""
    return request.url.scheme == "https" or public.lower().startswith("https://")


def cookie_secure(request: Request, settings: Settings) -> bool:
    return settings.secure_cookies or is_https(request, settings)


def _uses_api_key(headers: Headers) -> bool:
    # A cross-site form cannot set these headers, and a cross-site fetch that sets them
    # needs CORS, which this server never grants: such requests are not forgeable.
    scheme = headers.get("authorization", "").partition(" ")[0].lower()
    return scheme == "bearer" or "xi-api-key" in headers


def cross_origin_refusal(scope: Scope, public_origin: str | None) -> str | None:
    """Why a state-changing browser request from another origin is refused, or None.

    Browsers send Origin on every POST/PUT/PATCH/DELETE (Referer is the fallback); a
    request that names neither comes from a program, not from a page, and passes.
    """
    if scope["method"] not in STATE_CHANGING:
        return None
    headers = Headers(scope=scope)
    if _uses_api_key(headers):
        return None
    sent = headers.get("origin") or headers.get("referer")
    if sent is None:
        return None
    own = normalized_origin(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")
    if normalized_origin(sent) in {own, public_origin} - {None}:
        return None
    return (
        f"Refused: this request was sent from another site ({sent[:200]}), not from "
        "Ownvoice's own pages. Open Ownvoice at its own address; if it runs behind a "
        "reverse proxy, set OWNVOICE_PUBLIC_URL to the address people open."
    )


class WebSecurityMiddleware:
    """Adds the security headers to every response and refuses cross-origin writes (403)."""

    def __init__(self, app: ASGIApp, public_origin: str | None) -> None:
        self.app, self.public_origin = app, public_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"].startswith(DOCS_PATHS) else APP_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in {**SECURITY_HEADERS, "content-security-policy": csp}.items():
                    headers.setdefault(name, value)
            await send(message)

        refusal = cross_origin_refusal(scope, self.public_origin)
        if refusal is not None:
            response = error_response(Request(scope), 403, refusal, code="cross_origin")
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def install_web_security(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(WebSecurityMiddleware, public_origin=normalized_origin(settings.public_url))
    if settings.trusted_proxies:
        # Added last, so it runs first: the checks above see the client's real scheme.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
