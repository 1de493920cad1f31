"""POST /api/tts: streamed speech for the browser, cached on disk; and the one way every API
surface opens an audio stream (`stream_speech`), within the user's concurrent stream limit."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from app.api.deps import CurrentUser, SessionDep
from app.core.limits import StreamSlot
from app.models.user import User
from app.services.speech import (
    AudioStream,
    SpeechRequest,
    Synthesizer,
    VoiceTarget,
    resolve_voice,
)

router = APIRouter(prefix="/api", tags=["tts"])

MAX_TTS_CHARS = 5000


class TtsIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    text: str = Field(min_length=1, max_length=MAX_TTS_CHARS)
    voice_id: str = Field(alias="voiceId", min_length=1, max_length=128)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    format: Literal["mp3", "wav", "pcm_24000", "opus"] = "mp3"
    speed: float = Field(default=1.0, ge=0.5, le=2.0)


def synthesizer(request: Request) -> Synthesizer:
    state = request.app.state
    return Synthesizer(state.inference, state.elevenlabs, state.audio_cache)


class SlotStreamingResponse(StreamingResponse):
    """A streamed response that gives its stream slot back when it ends, however it ends
    (finished, client gone, error)."""

    def __init__(self, audio: AudioStream, headers: dict[str, str], slot: StreamSlot) -> None:
        super().__init__(audio.body, media_type=audio.media_type, headers=headers)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()


def audio_response(audio: AudioStream, slot: StreamSlot) -> StreamingResponse:
    headers = {
        **audio.headers,
        "X-Cache": "hit" if audio.cache_hit else "miss",
        "Cache-Control": "no-store",
    }
    return SlotStreamingResponse(audio, headers, slot)


STREAM_RETRY_SECONDS = 5


def _stream_slot(request: Request, user: User) -> StreamSlot:
    limiter = request.app.state.stream_limiter
    slot = limiter.acquire(user.id)
    if slot is None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail={
                "status": "too_many_concurrent_requests",
                "message": f"You already have {limiter.per_user} audio streams open, the most "
                "one user may have at once: let one finish or stop it, then try again.",
            },
            headers={"Retry-After": str(STREAM_RETRY_SECONDS)},
        )
    return slot


async def stream_speech(
    request: Request, user: User, target: VoiceTarget, speech: SpeechRequest
) -> StreamingResponse:
    """The audio for `speech` in `target`'s voice, streamed within the user's stream limit.
    The route's database session is closed when the route returns, before the stream."""
    slot = _stream_slot(request, user)
    try:
        audio = await synthesizer(request).speak(target, speech)
    except BaseException:
        slot.release()
        raise
    return audio_response(audio, slot)


AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"audio/mpeg": {}, "audio/wav": {}, "audio/ogg": {}, "audio/L16;rate=24000": {}},
        "description": "Streamed audio; header X-Cache: hit|miss",
    },
    400: {},
    404: {},
    409: {},
    429: {"description": "Too many audio streams open at once (header Retry-After)"},
    503: {},
}


@router.post("/tts", response_class=StreamingResponse, responses=AUDIO_RESPONSES)
async def text_to_speech(
    body: TtsIn, request: Request, user: CurrentUser, db: SessionDep
) -> StreamingResponse:
    target = resolve_voice(db, user, body.voice_id, request.app.state.elevenlabs)
    speech = SpeechRequest(
        text=body.text, language=body.language, native_format=body.format, speed=body.speed
    )
    return await stream_speech(request, user, target, speech)
