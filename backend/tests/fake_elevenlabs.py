"""A stand-in for the remote ElevenLabs API (the one fake the tests allow): a small FastAPI
app under uvicorn on a free loopback port, recording what it was asked."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse
from servers import free_port

FAKE_KEY = "el-fake-key"
RACHEL = "21m00Tcm4TlvDq8ikWAM"
CUT_OFF = "cutoffVoice000000000"
GATED = "gatedVoice0000000000"  # holds everything after its first chunk until `gate` is set
CHUNKS = 5


def fake_audio(voice_id: str, text: str) -> list[bytes]:
    """Deterministic chunks that differ by voice and text."""
    seed = f"{voice_id}:{text}".encode()
    return [bytes((seed[i % len(seed)] + n) % 256 for i in range(4000)) for n in range(CHUNKS)]


@dataclass
class FakeElevenLabs:
    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # every request, any route: "POST /v1/..."
    gate: threading.Event = field(default_factory=threading.Event)

    def app(self) -> FastAPI:
        app = FastAPI()

        def unauthorized() -> JSONResponse:
            return JSONResponse(
                {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
                status_code=401,
            )

        @app.get("/v1/voices")
        async def voices(xi_api_key: str | None = Header(default=None)) -> Any:
            if xi_api_key != FAKE_KEY:
                return unauthorized()
            return {"voices": [{"voice_id": RACHEL, "name": "Rachel", "category": "premade"}]}

        @app.post("/v1/text-to-speech/{voice_id}/stream")
        async def tts(
            voice_id: str,
            request: Request,
            output_format: str = "mp3_44100_128",
            xi_api_key: str | None = Header(default=None),
        ) -> Any:
            body = await request.json()
            self.calls.append(
                {
                    "voice_id": voice_id,
                    "output_format": output_format,
                    "body": body,
                    "key": xi_api_key,
                }
            )
            if xi_api_key != FAKE_KEY:
                return unauthorized()
            if voice_id not in (RACHEL, CUT_OFF, GATED):
                return JSONResponse(
                    {
                        "detail": {
                            "status": "voice_not_found",
                            "message": "A voice with that id was not found.",
                        }
                    },
                    status_code=404,
                )
            chunks = fake_audio(voice_id, body["text"])

            async def stream() -> AsyncIterator[bytes]:
                for index, chunk in enumerate(chunks):
                    if voice_id == CUT_OFF and index == 2:
                        raise RuntimeError("connection lost midway (on purpose)")
                    yield chunk
                    await asyncio.sleep(0.02)
                    while voice_id == GATED and not self.gate.is_set():
                        await asyncio.sleep(0.02)

            media = "audio/mpeg" if output_format.startswith("mp3") else "audio/pcm"
            return StreamingResponse(stream(), media_type=media)

        return self._recording(app)

    def _recording(self, app: FastAPI) -> Any:
        """The app, noting every request's method, path and query (pure ASGI: streams and
        their failures pass through untouched)."""

        async def recorded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                target = scope["raw_path"].decode()
                if scope["query_string"]:
                    target += "?" + scope["query_string"].decode()
                self.paths.append(f"{scope['method']} {target}")
            await app(scope, receive, send)

        return recorded


@contextmanager
def running_fake() -> Iterator[FakeElevenLabs]:
    fake = FakeElevenLabs()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake ElevenLabs did not start")
        time.sleep(0.05)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
