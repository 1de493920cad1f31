"""HTTP client for the inference service (ai-service): readiness, voices, streamed generation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx

from app.services.errors import UpstreamError

log = logging.getLogger("ownvoice.inference")

# Between two lines of a batch stream: the service sends progress lines while it works,
# but a batch of long sentences on a CPU can stay silent for a while in the vocoder.
BATCH_TIMEOUT = httpx.Timeout(600.0, connect=5.0)


def read_or_create_token(path: Path) -> str:
    """The shared bearer token: read it, or create it (0600) if neither service has yet.

    The token is written to a private temp file first and then hard-linked into place:
    `os.link` fails if the other service won the race, and a reader never sees a
    half-written file (the inference service does the same).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    token = path.read_text().strip()
    if not token:
        raise RuntimeError(f"{path} is empty: delete it and restart both services.")
    return token


InferenceError = UpstreamError


# The code of "the inference service is not there at all" (stopped, crashed, restarting), as
# opposed to an answer about one request. Clients wait and retry on it (503 + Retry-After).
UNREACHABLE = "inference_unreachable"


def _unreachable(base_url: str, exc: Exception) -> InferenceError:
    return InferenceError(
        503,
        UNREACHABLE,
        f"The inference service at {base_url} is not reachable ({type(exc).__name__}): "
        "start it (make start) or set OWNVOICE_INFERENCE_URL.",
        retry_after="5",
    )


def _broken_stream(base_url: str, what: str) -> InferenceError:
    return InferenceError(
        502,
        "inference_stream_broken",
        f"The inference service at {base_url} {what} in the middle of a stream: "
        "check its log, then try again.",
    )


async def _error_from(response: httpx.Response) -> InferenceError:
    await response.aread()
    code, message = "inference_error", response.text[:500] or response.reason_phrase
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        detail = response.json()["detail"]
        if isinstance(detail, dict):
            code = detail.get("code", code)
            message = detail.get("message", message)
        elif isinstance(detail, str):
            message = detail
    if response.status_code in (401, 403):
        # Our credentials for the inference service, not the user's: never answer the
        # browser with 401 for this, it would look like the user's own login expired.
        return InferenceError(
            502,
            "inference_token_rejected",
            "The inference service rejected the shared token: restart both "
            "services with the same OWNVOICE_DATA_DIR or OWNVOICE_INFERENCE_TOKEN.",
        )
    return InferenceError(response.status_code, code, message, response.headers.get("retry-after"))


def _write_json_atomically(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        with temp.open("w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def generate_payload(
    voice_id: str,
    language: str | None,
    fmt: str,
    speed: float,
    sampling: dict[str, Any],
    *,
    text: str | None = None,
    texts: list[str] | None = None,
) -> dict[str, Any]:
    """The body of POST /generate (one `text`) or POST /generate/batch (`texts`): the one
    place its fields and defaults are decided, for listening and for rendering ahead."""
    said: dict[str, Any] = {"text": text} if texts is None else {"texts": texts}
    return {
        **said,
        "voice_id": voice_id,
        "language": language or "en",
        "format": fmt,
        "speed": speed,
        **sampling,
    }


async def _file_body(path: Path) -> AsyncIterator[bytes]:
    """Stream a file: uploads may be 25 MB and we keep memory flat."""
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, 256 * 1024):
            yield chunk


class InferenceClient:
    READY_TTL_SECONDS = 5.0

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = 120.0,
        stock_voices_file: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._stock_voices_file = stock_voices_file
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=5.0),
        )
        self._ready_cache: tuple[float, dict[str, Any]] | None = None
        self._stock_cache: tuple[float, list[dict[str, Any]]] | None = None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        if response.status_code >= 400:
            raise await _error_from(response)
        return response

    async def ready(self, *, fresh: bool = False) -> dict[str, Any]:
        """/ready, cached for a few seconds (it feeds cache keys on every TTS request)."""
        now = time.monotonic()
        if not fresh and self._ready_cache and now - self._ready_cache[0] < self.READY_TTL_SECONDS:
            return self._ready_cache[1]
        response = await self._request("GET", "/ready", timeout=5.0)
        data = response.json()
        self._ready_cache = (now, data)
        return data

    async def stock_voices(self) -> list[dict[str, Any]]:
        """/stock-voices (cached for a few seconds: every stock voice request is routed by
        it); while the service cannot answer, the last list it gave.

        The list is remembered in `stock_voices_file` (across restarts too), so that stock
        voices stay selectable, and their cached audio playable, while the service is down.
        """
        now = time.monotonic()
        if self._stock_cache and now - self._stock_cache[0] < self.READY_TTL_SECONDS:
            return self._stock_cache[1]
        try:
            voices = (await self._request("GET", "/stock-voices", timeout=5.0)).json()
        except InferenceError:
            remembered = self._remembered_stock_voices()
            if remembered is None:
                raise
            return remembered
        self._stock_cache = (now, voices)
        if self._stock_voices_file is not None and voices != self._remembered_stock_voices():
            try:
                await asyncio.to_thread(_write_json_atomically, self._stock_voices_file, voices)
            except OSError as exc:  # e.g. a full disk: the list still serves this request
                log.warning("could not remember the stock voices", extra={"reason": str(exc)})
        return voices

    def _remembered_stock_voices(self) -> list[dict[str, Any]] | None:
        if self._stock_voices_file is None:
            return None
        try:
            voices = json.loads(self._stock_voices_file.read_text())
        except (OSError, ValueError):
            return None
        return voices if isinstance(voices, list) else None

    async def put_voice(self, voice_id: str, audio: Path, language: str) -> dict[str, Any]:
        response = await self._request(
            "PUT",
            f"/voices/{voice_id}",
            params={"language": language},
            content=_file_body(audio),
            headers={"Content-Type": "application/octet-stream"},
            timeout=600.0,
        )
        return response.json()

    async def check_consent(self, audio: Path, name: str, language: str) -> dict[str, Any]:
        """POST /consent/check: is the consent sentence, with `name`, heard in the recording,
        in the voice of the rest of it? The answer says `passed`, else the `problem`."""
        response = await self._request(
            "POST",
            "/consent/check",
            params={"name": name, "language": language},
            content=_file_body(audio),
            headers={"Content-Type": "application/octet-stream"},
            timeout=600.0,
        )
        return response.json()

    async def align(self, audio: bytes, sample_rate: int, text: str, language: str) -> dict:
        """POST /align: the words of `text` with their start/end seconds in `audio` (s16le
        mono PCM at `sample_rate`), as the inference service hears them."""
        response = await self._request(
            "POST",
            "/align",
            params={"text": text, "sample_rate": sample_rate, "language": language},
            content=audio,
            headers={"Content-Type": "application/octet-stream"},
            timeout=600.0,
        )
        return response.json()

    async def delete_voice(self, voice_id: str) -> None:
        await self._request("DELETE", f"/voices/{voice_id}")

    async def verify(self, pcm: bytes, params: dict[str, Any]) -> dict[str, Any]:
        """POST /verify: hear s16le PCM of `params["text"]` said in `params["voice_id"]`
        (with language, speed, sample_rate). Its verdict, words and trimmed audio."""
        response = await self._request(
            "POST",
            "/verify",
            params=params,
            content=pcm,
            headers={"Content-Type": "application/octet-stream"},
            timeout=BATCH_TIMEOUT,
        )
        return response.json()

    async def _open_stream(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        if response.status_code >= 400:
            try:
                raise await _error_from(response)
            finally:
                await response.aclose()
        return response

    async def open_generate(self, payload: dict[str, Any]) -> httpx.Response:
        """Start a streamed /generate. The caller reads `aiter_raw()` and must `aclose()` it.

        Errors arrive before the first audio byte, so they are raised here, where the
        caller can still answer with a proper status code.
        """
        return await self._open_stream(
            self._client.build_request("POST", "/generate", json=payload)
        )

    @contextlib.asynccontextmanager
    async def generate_batch(
        self, payload: dict[str, Any]
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """POST /generate/batch: `async with` it to read its NDJSON events as dicts.

        Errors before the stream are raised on entry, as `open_generate` does. Leaving the
        block closes the connection, which tells the service to drop the texts not yet done.
        """
        request = self._client.build_request(
            "POST", "/generate/batch", json=payload, timeout=BATCH_TIMEOUT
        )
        response = await self._open_stream(request)
        try:
            yield self._ndjson_events(response)
        finally:
            # Shielded: the close is what stops the generation, even while we are cancelled.
            with anyio.CancelScope(shield=True):
                await response.aclose()

    async def _ndjson_events(self, response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
        try:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError as exc:
                    raise _broken_stream(self.base_url, "sent a line that is not JSON") from exc
                if not isinstance(event, dict):
                    raise _broken_stream(self.base_url, "sent a line that is not a JSON object")
                yield event
        except httpx.TransportError as exc:
            raise _broken_stream(self.base_url, f"broke off ({type(exc).__name__})") from exc
