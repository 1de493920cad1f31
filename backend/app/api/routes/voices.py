"""Cloned voices: upload (the seed's POST /api/voice/upload), list, rename, default, delete."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from app.api.audio import VOICE_UPLOAD_BODY
from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.core.limits import UPLOADS
from app.schemas.text import Name
from app.services import consent as consent_service
from app.services import voices as voice_service
from app.services.inference_client import InferenceError
from app.services.uploads import receive_multipart

log = logging.getLogger("ownvoice.voices")
router = APIRouter(prefix="/api", tags=["voices"])


class ConsentOut(BaseModel):
    """How the speaker consented to the cloning: `spoken` (the consent sentence was heard in
    the recording, in the speaker's voice) or `attested` (the uploader confirmed it)."""

    method: Literal["spoken", "attested"]
    user_id: str  # the account that uploaded the recording
    name: str
    transcript: str | None  # spoken: what was heard
    speaker_similarity: float | None  # spoken: consent sentence vs the rest of the recording
    audio_sha256: str
    created_at: datetime


class VoiceOut(BaseModel):
    id: str
    name: str
    language: str
    status: Literal["processing", "ready", "failed"]
    error: str | None
    is_default: bool
    report: dict[str, Any] | None
    # A failed voice whose recording was kept: POST /api/voices/{id}/retry prepares it again.
    can_retry: bool = False
    consent: ConsentOut | None = None  # None only for voices made before consent was recorded
    created_at: datetime


class UploadOut(BaseModel):
    voice: VoiceOut
    report: dict[str, Any] | None


class StockVoiceOut(BaseModel):
    voice_id: str
    name: str
    language: str | None = None
    engine: str | None = None


class ElevenLabsVoiceOut(BaseModel):
    voice_id: str
    name: str


class VoiceListOut(BaseModel):
    voices: list[VoiceOut]
    stock: list[StockVoiceOut]
    elevenlabs: list[ElevenLabsVoiceOut]
    default_voice_id: str | None


class RenameIn(BaseModel):
    name: Name = Field(min_length=1, max_length=100)


@router.post(
    "/voice/upload",
    status_code=201,
    openapi_extra=VOICE_UPLOAD_BODY,
    responses={413: {}, 415: {}, 422: {}, 503: {}},
)
async def upload_voice(
    request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> UploadOut:
    data_dir = settings.resolved_data_dir
    form = await receive_multipart(
        request,
        UPLOADS["/api/voice/upload"],
        settings,
        temp_dir=voice_service.voices_dir(data_dir),
        file_fields={"audio"},
    )
    try:
        if not form.files:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail="Attach the recording as the multipart field 'audio'.",
            )
        name = voice_service.validate_name(form.fields.get("name"))
        language = voice_service.validate_language(form.fields.get("language"))
        method = consent_service.parse_method(form.fields.get("consent"))
        inference = request.app.state.inference
        consent = await consent_service.gather(inference, form.files[0].path, method, name)
        voice = await voice_service.create_voice(
            db, inference, data_dir, user, form.files[0], name, language, consent
        )
    finally:
        form.discard()  # whatever was not moved into place
    log.info("voice created", extra={"voice_id": voice.id, "user_id": user.id})
    return UploadOut(voice=VoiceOut(**voice_service.voice_out(voice)), report=voice.report)


async def _stock_voices(request: Request) -> list[dict[str, Any]]:
    try:
        return await request.app.state.inference.stock_voices()
    except InferenceError:
        return []  # the health indicator already says why


async def _elevenlabs_voices(request: Request) -> list[dict[str, Any]]:
    client = request.app.state.elevenlabs
    if client is None:
        return []
    try:
        return await client.list_voices()
    except InferenceError as exc:
        log.warning("could not list ElevenLabs voices", extra={"reason": exc.message})
        return []


@router.get("/voices")
async def list_voices(request: Request, user: CurrentUser, db: SessionDep) -> VoiceListOut:
    voices = voice_service.user_voices(db, user)
    default = next((v.id for v in voices if v.is_default), None)
    return VoiceListOut(
        voices=[VoiceOut(**voice_service.voice_out(v)) for v in voices],
        stock=[StockVoiceOut(**v) for v in await _stock_voices(request)],
        elevenlabs=[ElevenLabsVoiceOut(**v) for v in await _elevenlabs_voices(request)],
        default_voice_id=default,
    )


@router.get("/voices/{voice_id}", responses={404: {}})
def get_voice(voice_id: str, user: CurrentUser, db: SessionDep) -> VoiceOut:
    return VoiceOut(**voice_service.voice_out(voice_service.get_user_voice(db, user, voice_id)))


@router.patch("/voices/{voice_id}", responses={404: {}})
def rename_voice(voice_id: str, body: RenameIn, user: CurrentUser, db: SessionDep) -> VoiceOut:
    voice = voice_service.get_user_voice(db, user, voice_id)
    voice.name = voice_service.validate_name(body.name)
    db.commit()
    return VoiceOut(**voice_service.voice_out(voice))


@router.post("/voices/{voice_id}/default", responses={404: {}, 409: {}})
def make_default(voice_id: str, user: CurrentUser, db: SessionDep) -> VoiceOut:
    voice = voice_service.get_user_voice(db, user, voice_id)
    voice_service.set_default(db, user, voice)
    return VoiceOut(**voice_service.voice_out(voice))


@router.post("/voices/{voice_id}/retry", responses={404: {}, 409: {}, 422: {}, 503: {}})
async def retry_voice(
    voice_id: str, request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> VoiceOut:
    """Prepare a failed voice again from its stored recording (e.g. the engine was down)."""
    voice = voice_service.get_user_voice(db, user, voice_id)
    await voice_service.retry_voice(
        db, request.app.state.inference, settings.resolved_data_dir, user, voice
    )
    log.info("voice prepared again", extra={"voice_id": voice.id, "user_id": user.id})
    return VoiceOut(**voice_service.voice_out(voice))


@router.delete("/voices/{voice_id}", status_code=204, responses={404: {}, 503: {}})
async def delete_voice(
    voice_id: str, request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> Response:
    voice = voice_service.get_user_voice(db, user, voice_id)
    await voice_service.delete_voice(
        db, request.app.state.inference, settings.resolved_data_dir, user, voice
    )
    return Response(status_code=204)
