"""POST /api/tts: streamed speech for the browser, cached on disk (opened by
app.api.audio.stream_speech, as on every API surface)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.audio import AUDIO_RESPONSES, stream_speech, synthesizer
from app.api.deps import CurrentUser, SessionDep
from app.schemas.text import Name
from app.services.heard_speech import ensure_heard
from app.services.speech import SpeechRequest, resolve_voice

router = APIRouter(prefix="/api", tags=["tts"])

MAX_TTS_CHARS = 5000


class TtsIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    text: str = Field(min_length=1, max_length=MAX_TTS_CHARS)
    voice_id: Name = Field(alias="voiceId", min_length=1, max_length=128)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    format: Literal["mp3", "wav", "pcm_24000", "opus"] = "mp3"
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    verify: bool = Field(
        default=False,
        description="Wait for a take that speech recognition heard right (rendered through "
        "the batch path, best of N takes) instead of streaming at once; a live take is heard "
        "after it played either way.",
    )


@router.post("/tts", response_class=StreamingResponse, responses=AUDIO_RESPONSES)
async def text_to_speech(
    body: TtsIn, request: Request, user: CurrentUser, db: SessionDep
) -> StreamingResponse:
    state = request.app.state
    target = await resolve_voice(db, user, body.voice_id, state.inference, state.elevenlabs)
    speech = SpeechRequest(
        text=body.text, language=body.language, native_format=body.format, speed=body.speed
    )
    if body.verify:
        await ensure_heard(synthesizer(request), target, speech)
    return await stream_speech(request, user, target, speech)
