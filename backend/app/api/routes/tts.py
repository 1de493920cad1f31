"""POST /api/tts: streamed speech for the browser, cached on disk."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import CurrentUser, SessionDep
from app.services.speech import AudioStream, SpeechRequest, Synthesizer, resolve_voice

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


def audio_response(
    audio: AudioStream, extra_headers: dict[str, str] | None = None
) -> StreamingResponse:
    headers = {
        **audio.headers,
        "X-Cache": "hit" if audio.cache_hit else "miss",
        "Cache-Control": "no-store",
        **(extra_headers or {}),
    }
    return StreamingResponse(audio.body, media_type=audio.media_type, headers=headers)


AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"audio/mpeg": {}, "audio/wav": {}, "audio/ogg": {}, "audio/L16;rate=24000": {}},
        "description": "Streamed audio; header X-Cache: hit|miss",
    },
    400: {},
    404: {},
    409: {},
    429: {},
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
    return audio_response(await synthesizer(request).speak(target, speech))
