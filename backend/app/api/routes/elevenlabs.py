"""ElevenLabs-compatible API: existing ElevenLabs clients work by changing base URL and key.

Auth is the `xi-api-key` header (an Ownvoice API key); errors are ElevenLabs-shaped
(`{"detail": {"status", "message"}}`, see app/api/error_shapes.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app.api.audio import AUDIO_RESPONSES, hold_stream_slot, stream_speech, synthesizer
from app.api.deps import SessionDep, SettingsDep, api_key_user, bearer_token
from app.core.limits import UPLOADS
from app.models.user import User
from app.models.voice import CONSENT_ATTESTED, Voice
from app.services import consent as consent_service
from app.services import voices as voice_service
from app.services.inference_client import InferenceError
from app.services.speech import SpeechRequest, resolve_voice
from app.services.timestamps import TimedChunk, join_chunks, timed_chunks
from app.services.transcode import parse_output_format, supported_output_formats
from app.services.uploads import receive_multipart

router = APIRouter(tags=["elevenlabs-compatible"])


def el_error(status_code: int, status_name: str, message: str) -> HTTPException:
    return HTTPException(status_code, detail={"status": status_name, "message": message})


def xi_user(request: Request, db: SessionDep) -> User:
    user = api_key_user(db, request.headers.get("xi-api-key") or bearer_token(request))
    if user is None:
        raise el_error(
            401,
            "invalid_api_key",
            "Missing or invalid xi-api-key: create an API key in Ownvoice's Settings.",
        )
    return user


XiUser = Annotated[User, Depends(xi_user)]


# --- voices ---------------------------------------------------------------------------


def _clone_json(voice: Voice) -> dict[str, Any]:
    return {
        "voice_id": voice.id,
        "name": voice.name,
        "category": "cloned",
        "labels": {"language": voice.language, "status": voice.status},
        "description": voice.error,
        "preview_url": None,
        "settings": None,
        "high_quality_base_model_ids": [],
        "is_owner": True,
        "created_at_unix": int(voice.created_at.timestamp()),
    }


def _stock_json(stock: dict[str, Any]) -> dict[str, Any]:
    return {
        "voice_id": stock["voice_id"],
        "name": stock.get("name"),
        "category": "premade",
        "labels": {"language": stock.get("language") or "", "engine": stock.get("engine") or ""},
        "description": None,
        "preview_url": None,
        "settings": None,
        "is_owner": False,
    }


async def _all_voices(request: Request, db: Session, user: User) -> list[dict[str, Any]]:
    voices = [_clone_json(v) for v in voice_service.user_voices(db, user)]
    # Listing still works while the inference service or ElevenLabs is down.
    with contextlib.suppress(InferenceError):
        voices += [_stock_json(s) for s in await request.app.state.inference.stock_voices()]
    client = request.app.state.elevenlabs
    if client is not None:
        with contextlib.suppress(InferenceError):
            voices += [
                {
                    "voice_id": v["voice_id"],
                    "name": v["name"],
                    "category": "premade",
                    "labels": {"provider": "elevenlabs"},
                }
                for v in await client.list_voices()
            ]
    return voices


@router.get("/v1/voices")
async def list_voices_v1(request: Request, user: XiUser, db: SessionDep) -> dict[str, Any]:
    return {"voices": await _all_voices(request, db, user)}


@router.get("/v2/voices")
async def search_voices_v2(
    request: Request,
    user: XiUser,
    db: SessionDep,
    search: str | None = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    next_page_token: str | None = None,
) -> dict[str, Any]:
    voices = await _all_voices(request, db, user)
    if search:
        needle = search.lower()
        voices = [
            v
            for v in voices
            if needle in (v.get("name") or "").lower() or needle in v["voice_id"].lower()
        ]
    start = int(next_page_token) if next_page_token and next_page_token.isdigit() else 0
    page = voices[start : start + page_size]
    more = start + page_size < len(voices)
    return {
        "voices": page,
        "has_more": more,
        "total_count": len(voices),
        "next_page_token": str(start + page_size) if more else None,
    }


@router.get("/v1/voices/{voice_id}")
async def get_voice_v1(
    voice_id: str, request: Request, user: XiUser, db: SessionDep
) -> dict[str, Any]:
    for voice in await _all_voices(request, db, user):
        if voice["voice_id"] == voice_id:
            return voice
    raise el_error(404, "voice_not_found", f"A voice with id '{voice_id}' was not found.")


ADD_VOICE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files", "name"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "name": {"type": "string", "maxLength": 100},
                        "labels": {"type": "string", "description": 'JSON, e.g. {"language":"en"}'},
                    },
                }
            }
        },
    }
}


@router.post("/v1/voices/add", openapi_extra=ADD_VOICE_BODY)
async def add_voice_v1(
    request: Request, user: XiUser, db: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    data_dir = settings.resolved_data_dir
    form = await receive_multipart(
        request,
        UPLOADS["/v1/voices/add"],
        settings,
        temp_dir=voice_service.voices_dir(data_dir),
        file_fields={"files"},
    )
    try:
        if not form.files:
            raise el_error(422, "invalid_request", "Attach at least one audio sample as 'files'.")
        name = voice_service.validate_name(form.fields.get("name"))
        language = voice_service.validate_language(_language_from(form.fields))
        # The inference service conditions on one recording: the longest sample carries most.
        sample = max(form.files, key=lambda f: f.size)
        inference = request.app.state.inference
        # An API client cannot record the consent sentence: the key's owner attests it.
        consent = await consent_service.gather(inference, sample.path, CONSENT_ATTESTED, name)
        voice = await voice_service.create_voice(
            db, inference, data_dir, user, sample, name, language, consent
        )
    finally:
        form.discard()
    return {"voice_id": voice.id, "requires_verification": False}


def _language_from(fields: dict[str, str]) -> str | None:
    if fields.get("language"):
        return fields["language"]
    try:
        labels = json.loads(fields.get("labels") or "{}")
    except ValueError:
        return None
    return labels.get("language") if isinstance(labels, dict) else None


@router.delete("/v1/voices/{voice_id}")
async def delete_voice_v1(
    voice_id: str, request: Request, user: XiUser, db: SessionDep, settings: SettingsDep
) -> dict[str, str]:
    voice = db.get(Voice, voice_id)
    if voice is None or voice.user_id != user.id:
        raise el_error(404, "voice_not_found", f"A voice with id '{voice_id}' was not found.")
    await voice_service.delete_voice(
        db, request.app.state.inference, settings.resolved_data_dir, user, voice
    )
    return {"status": "ok"}


@router.get("/v1/models")
async def list_models_v1(request: Request, user: XiUser) -> list[dict[str, Any]]:
    """The local engines, as ElevenLabs models. Any model_id is accepted for synthesis: the
    voice decides the engine."""
    try:
        engines = (await request.app.state.inference.ready()).get("engines") or {}
    except InferenceError:
        engines = {}
    return [
        {
            "model_id": info.get("model_id") or name,
            "name": f"Ownvoice {name}",
            "description": "cloned voices" if name == "xtts" else "stock voices",
            "can_do_text_to_speech": bool(info.get("available")),
            "can_be_finetuned": False,
            "can_do_voice_conversion": False,
        }
        for name, info in engines.items()
        if isinstance(info, dict)
    ]


# --- text to speech -------------------------------------------------------------------


class VoiceSettingsIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    stability: float | None = None
    similarity_boost: float | None = None
    style: float | None = None
    use_speaker_boost: bool | None = None
    speed: float | None = Field(default=None, ge=0.5, le=2.0)


class TextToSpeechIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str = Field(min_length=1, max_length=10000)
    model_id: str | None = None
    language_code: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    voice_settings: VoiceSettingsIn | None = None
    seed: int | None = Field(default=None, ge=0, le=4294967295)


def _speech_request(body: TextToSpeechIn, output_format: str, local: bool) -> SpeechRequest:
    target_format = parse_output_format(output_format)
    if target_format is None:
        raise el_error(
            422,
            "invalid_output_format",
            f"output_format '{output_format}' is not supported here: use one of "
            f"{', '.join(supported_output_formats())}.",
        )
    settings = body.voice_settings.model_dump(exclude_none=True) if body.voice_settings else None
    speed = body.voice_settings.speed if body.voice_settings and body.voice_settings.speed else 1.0
    request = SpeechRequest(
        text=body.text,
        language=body.language_code,
        speed=speed,
        elevenlabs_model_id=body.model_id,
        elevenlabs_settings=settings,
    )
    if local:
        request.elevenlabs_settings = None  # XTTS/Piper ignore them; keep the cache key honest
        if body.seed is not None:
            request.sampling = {"seed": body.seed}
    if local and target_format.is_source_pcm:
        request.native_format = "pcm_24000"  # what the inference service streams anyway
    else:
        request.transcode_to = target_format
    return request


async def _text_to_speech(
    voice_id: str,
    body: TextToSpeechIn,
    output_format: str,
    request: Request,
    user: User,
    db: Session,
) -> StreamingResponse:
    state = request.app.state
    # 404 is ElevenLabs' voice_not_found (app.services.errors.VoiceNotFound.for_elevenlabs).
    target = await resolve_voice(db, user, voice_id, state.inference, state.elevenlabs)
    speech = _speech_request(body, output_format, local=target.engine != "elevenlabs")
    return await stream_speech(request, user, target, speech)


OutputFormatQuery = Annotated[str, Query(description="e.g. mp3_44100_128, pcm_16000")]


# ElevenLabs has a plain and a /stream route; both stream here, so one handler serves both.
@router.post(
    "/v1/text-to-speech/{voice_id}/stream",
    response_class=StreamingResponse,
    responses=AUDIO_RESPONSES,
    operation_id="text_to_speech_stream_v1",
)
@router.post(
    "/v1/text-to-speech/{voice_id}",
    response_class=StreamingResponse,
    responses=AUDIO_RESPONSES,
    operation_id="text_to_speech_v1",
)
async def text_to_speech_v1(
    voice_id: str,
    body: TextToSpeechIn,
    request: Request,
    user: XiUser,
    db: SessionDep,
    output_format: OutputFormatQuery = "mp3_44100_128",
) -> StreamingResponse:
    return await _text_to_speech(voice_id, body, output_format, request, user, db)


# --- text to speech with character timings --------------------------------------------


async def _timed_chunks(
    voice_id: str,
    body: TextToSpeechIn,
    output_format: str,
    request: Request,
    user: User,
    db: Session,
) -> AsyncGenerator[TimedChunk, None]:
    state = request.app.state
    target = await resolve_voice(db, user, voice_id, state.inference, state.elevenlabs)
    if target.engine == "elevenlabs":
        raise el_error(
            400,
            "timestamps_unavailable",
            "Timestamps are available for Ownvoice voices (your clones and the stock voices); "
            "ask ElevenLabs itself for this voice's timestamps.",
        )
    speech = _speech_request(body, output_format, local=True)
    output = speech.transcode_to or parse_output_format("pcm_24000")
    assert output is not None  # a valid name
    return timed_chunks(synthesizer(request), state.inference, target, speech, output)


@router.post(
    "/v1/text-to-speech/{voice_id}/with-timestamps",
    responses={400: {}, 404: {}, 422: {}, 503: {}},
    operation_id="text_to_speech_with_timestamps_v1",
)
async def text_to_speech_with_timestamps_v1(
    voice_id: str,
    body: TextToSpeechIn,
    request: Request,
    user: XiUser,
    db: SessionDep,
    output_format: OutputFormatQuery = "mp3_44100_128",
) -> dict[str, Any]:
    """{audio_base64, alignment, normalized_alignment}: the whole audio and each character of
    the text with its start and end seconds."""
    slot = await hold_stream_slot(request, user)
    try:
        chunks = await _timed_chunks(voice_id, body, output_format, request, user, db)
        return join_chunks([chunk async for chunk in chunks]).to_json()
    finally:
        await slot.arelease()


@router.post(
    "/v1/text-to-speech/{voice_id}/stream/with-timestamps",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}}}, 400: {}, 404: {}, 422: {}},
    operation_id="text_to_speech_stream_with_timestamps_v1",
)
async def text_to_speech_stream_with_timestamps_v1(
    voice_id: str,
    body: TextToSpeechIn,
    request: Request,
    user: XiUser,
    db: SessionDep,
    output_format: OutputFormatQuery = "mp3_44100_128",
) -> StreamingResponse:
    """Newline-delimited JSON, one object per sentence as it is spoken: {audio_base64,
    alignment, normalized_alignment}, times counted from the start of the whole audio."""
    slot = await hold_stream_slot(request, user)
    try:
        chunks = await _timed_chunks(voice_id, body, output_format, request, user, db)
        # The first sentence before the answer starts: its errors still get their status.
        first = await anext(chunks)
    except BaseException:
        await slot.arelease()
        raise

    async def lines() -> AsyncIterator[bytes]:
        try:
            yield json.dumps(first.to_json()).encode() + b"\n"
            async for chunk in chunks:
                yield json.dumps(chunk.to_json()).encode() + b"\n"
        finally:
            await chunks.aclose()
            await slot.arelease()

    return StreamingResponse(lines(), media_type="application/json")


# --- the account --------------------------------------------------------------------------

# No quota is kept per account: the character limit is "unlimited" (the largest 32-bit int,
# since ElevenLabs clients expect an integer and compute `limit - count`).
UNLIMITED = 2**31 - 1


def _subscription(db: Session, user: User) -> dict[str, Any]:
    clones = len(voice_service.user_voices(db, user))
    return {
        "tier": "ownvoice",
        "character_count": 0,
        "character_limit": UNLIMITED,
        "max_character_limit_extension": None,
        "max_credit_limit_extension": 0,
        "can_extend_character_limit": False,
        "allowed_to_extend_character_limit": False,
        "next_character_count_reset_unix": None,
        "voice_slots_used": clones,
        "professional_voice_slots_used": 0,
        "professional_voice_slots_used_in_workspace": 0,
        "voice_limit": UNLIMITED,
        "max_voice_add_edits": None,
        "voice_add_edit_counter": 0,
        "professional_voice_limit": 0,
        "can_extend_voice_limit": False,
        "can_use_instant_voice_cloning": True,
        "can_use_professional_voice_cloning": False,
        "currency": None,
        "current_overage": {"amount": "0", "currency": "usd"},
        "status": "active",
        "billing_period": None,
        "character_refresh_period": None,
        "next_invoice": None,
        "open_invoices": [],
        "has_open_invoices": False,
    }


@router.get("/v1/user/subscription")
def get_subscription_v1(user: XiUser, db: SessionDep) -> dict[str, Any]:
    """The key's account as an ElevenLabs subscription: characters unlimited."""
    return _subscription(db, user)


@router.get("/v1/user")
def get_user_v1(request: Request, user: XiUser, db: SessionDep) -> dict[str, Any]:
    """The key's account, so that integrations can check a key and its quota."""
    return {
        "user_id": user.id,
        "workspace_id": user.id,
        "subscription": _subscription(db, user),
        "is_new_user": False,
        "can_use_delayed_payment_methods": False,
        "is_onboarding_completed": True,
        "is_onboarding_checklist_completed": True,
        "first_name": user.username,
        "is_api_key_hashed": True,
        "xi_api_key_preview": None,
        "created_at": int(user.created_at.timestamp()),
        "seat_type": "workspace_admin" if user.is_admin else "workspace_member",
    }
