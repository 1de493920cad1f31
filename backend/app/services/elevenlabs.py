"""Client for the real ElevenLabs API, used for voice ids that are not local."""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import quote

import httpx

from app.services.inference_client import UpstreamError

# ElevenLabs voice ids are 20 letters and digits (e.g. 21m00Tcm4TlvDq8ikWAM), premade,
# cloned and library voices alike. Up to 64 allows a longer id later; letters and digits
# only keep out everything with a meaning in a URL ("/", ".", "%", "?", "#"), so an id can
# never make the server's key reach another ElevenLabs endpoint.
VOICE_ID = re.compile(r"[A-Za-z0-9]{1,64}")


def is_voice_id(voice_id: str) -> bool:
    return VOICE_ID.fullmatch(voice_id) is not None


async def _elevenlabs_error(response: httpx.Response) -> UpstreamError:
    await response.aread()
    status, message = "elevenlabs_error", response.text[:500] or response.reason_phrase
    with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
        detail = response.json()["detail"]
        if isinstance(detail, dict):
            status = str(detail.get("status", status))
            message = str(detail.get("message", message))
        elif isinstance(detail, str):
            message = detail
    if response.status_code in (401, 403):
        return UpstreamError(
            502,
            "elevenlabs_key_rejected",
            f"ElevenLabs rejected ELEVENLABS_API_KEY ({message}): check the key.",
        )
    return UpstreamError(
        response.status_code, status, f"ElevenLabs: {message}", response.headers.get("retry-after")
    )


class ElevenLabsClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"xi-api-key": api_key},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def _unreachable(self, exc: Exception) -> UpstreamError:
        return UpstreamError(
            502,
            "elevenlabs_unreachable",
            f"ElevenLabs at {self.base_url} is not reachable "
            f"({type(exc).__name__}); check the network or ELEVENLABS_BASE_URL.",
        )

    async def list_voices(self) -> list[dict[str, Any]]:
        try:
            response = await self._client.get("/v1/voices", timeout=10.0)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise await _elevenlabs_error(response)
        return [
            {"voice_id": v["voice_id"], "name": v.get("name") or v["voice_id"]}
            for v in response.json().get("voices", [])
        ]

    async def open_tts(
        self, voice_id: str, body: dict[str, Any], output_format: str
    ) -> httpx.Response:
        """Start a streamed synthesis; the caller reads `aiter_raw()` and must `aclose()` it."""
        if not is_voice_id(voice_id):
            raise ValueError(f"not an ElevenLabs voice id: {voice_id!r}")
        request = self._client.build_request(
            "POST",
            f"/v1/text-to-speech/{quote(voice_id, safe='')}/stream",
            params={"output_format": output_format},
            json=body,
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            try:
                raise await _elevenlabs_error(response)
            finally:
                await response.aclose()
        return response
