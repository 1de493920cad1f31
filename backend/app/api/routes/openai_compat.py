"""OpenAI-compatible POST /v1/audio/speech (Bearer API key; OpenAI-shaped errors)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.audio import AUDIO_RESPONSES, stream_speech
from app.api.deps import SessionDep, api_key_user, bearer_token
from app.models.user import User
from app.schemas.text import Name
from app.services.speech import SpeechRequest, resolve_voice
from app.services.transcode import SOURCE_RATE, OutputFormat

router = APIRouter(tags=["openai-compatible"])

# OpenAI's built-in voice names: programs hard-code them, so they mean "my voice" (the
# user's default voice, else the first stock voice: app.services.speech.resolve_voice).
OPENAI_VOICES = {
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
}
NATIVE = {"mp3": "mp3", "opus": "opus", "wav": "wav", "pcm": "pcm_24000"}


def openai_user(request: Request, db: SessionDep) -> User:
    user = api_key_user(db, bearer_token(request))
    if user is None:
        raise HTTPException(
            401,
            detail="Missing or invalid API key: send an Ownvoice API key "
            "as 'Authorization: Bearer <key>'.",
        )
    return user


class SpeechIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=100)
    input: str = Field(min_length=1, max_length=4096)
    voice: Name = Field(min_length=1, max_length=128)
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    instructions: str | None = None


@router.post("/v1/audio/speech", response_class=StreamingResponse, responses=AUDIO_RESPONSES)
async def create_speech(
    body: SpeechIn, request: Request, user: Annotated[User, Depends(openai_user)], db: SessionDep
) -> StreamingResponse:
    state = request.app.state
    target = await resolve_voice(
        db, user, body.voice, state.inference, state.elevenlabs, my_voice_aliases=OPENAI_VOICES
    )
    speech = SpeechRequest(
        text=body.input,
        speed=body.speed,
        elevenlabs_model_id=body.model if target.engine == "elevenlabs" else None,
    )
    if body.response_format in NATIVE:
        speech.native_format = NATIVE[body.response_format]
    else:  # aac, flac: encoded here from the service's 24 kHz PCM
        speech.transcode_to = OutputFormat(body.response_format, SOURCE_RATE)
        if target.engine == "elevenlabs":
            raise HTTPException(
                400,
                detail=f"response_format '{body.response_format}' is not "
                "available for ElevenLabs voices: use mp3, wav or pcm.",
            )
    return await stream_speech(request, user, target, speech)
