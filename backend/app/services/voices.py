"""A user's cloned voices: create from an upload, prepare, rename, default, delete."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.user import User, new_id
from app.models.voice import VOICE_FAILED, VOICE_PROCESSING, VOICE_READY, Voice
from app.services.inference_client import InferenceClient, InferenceError
from app.services.uploads import UploadedFile

LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
CUSTOM_USER_VOICE = "custom_user_voice"


def voices_dir(data_dir: Path) -> Path:
    return data_dir / "uploads" / "voices"


def voice_out(voice: Voice) -> dict[str, Any]:
    return {
        "id": voice.id,
        "name": voice.name,
        "language": voice.language,
        "status": voice.status,
        "error": voice.error,
        "is_default": voice.is_default,
        "report": voice.report,
        "can_retry": can_retry(voice),
        "created_at": voice.created_at,
    }


def user_voices(db: Session, user: User) -> list[Voice]:
    return list(
        db.scalars(select(Voice).where(Voice.user_id == user.id).order_by(Voice.created_at))
    )


def get_user_voice(db: Session, user: User, voice_id: str) -> Voice:
    """The user's own voice; another user's voice is indistinguishable from a missing one."""
    voice = db.get(Voice, voice_id)
    if voice is None or voice.user_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such voice.")
    return voice


def default_voice(db: Session, user: User) -> Voice | None:
    return db.scalar(
        select(Voice).where(
            Voice.user_id == user.id, Voice.is_default.is_(True), Voice.status == VOICE_READY
        )
    )


def validate_name(name: str | None) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="Give the voice a name of 1 to 100 characters.",
        )
    return name


def validate_language(language: str | None) -> str:
    language = (language or "en").strip()
    if not LANGUAGE_PATTERN.match(language):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"'{language}' is not a language code: use e.g. 'en' or 'de'.",
        )
    return language


def _store_upload(upload: UploadedFile, data_dir: Path, user: User, voice_id: str) -> str:
    final = voices_dir(data_dir) / f"{user.id}_{voice_id}_reference.{upload.kind}"
    os.replace(upload.path, final)  # atomic: the temp file lives in the same directory
    return final.name


def _mark_failed(db: Session, voice: Voice, data_dir: Path, reason: str, *, keep: bool) -> None:
    """A failed voice keeps its record (so the user sees why). It keeps its recording only
    when the failure was not the recording's fault (`keep`), so that Retry can prepare it again;
    a recording the inference service rejected (too short, no speech) is removed."""
    if voice.upload_name and not keep:
        (voices_dir(data_dir) / voice.upload_name).unlink(missing_ok=True)
        voice.upload_name = None
    voice.status, voice.error = VOICE_FAILED, reason
    db.commit()


def _recording_was_fine(exc: InferenceError) -> bool:
    """The service was unreachable, busy or broken: the same recording may well work later."""
    return exc.status_code >= 500 or exc.status_code == 429


def can_retry(voice: Voice) -> bool:
    return voice.status == VOICE_FAILED and voice.upload_name is not None


def _make_default_if_first(db: Session, user: User, voice: Voice) -> None:
    if default_voice(db, user) is None:
        voice.is_default = True


async def _prepare(
    db: Session, inference: InferenceClient, data_dir: Path, user: User, voice: Voice
) -> Voice:
    """Have the inference service prepare the stored recording; the voice ends ready or failed.

    On an inference error the voice is marked failed and the error is re-raised, so the
    caller answers with the inference service's status and message.
    """
    assert voice.upload_name is not None
    voice.status, voice.error = VOICE_PROCESSING, None
    db.commit()
    try:
        result = await inference.put_voice(
            voice.id, voices_dir(data_dir) / voice.upload_name, voice.language
        )
    except InferenceError as exc:
        _mark_failed(db, voice, data_dir, exc.message, keep=_recording_was_fine(exc))
        raise
    except BaseException:
        # Cancelled (client went away) or a bug: never leave it "processing" forever.
        _mark_failed(db, voice, data_dir, "Preparation was interrupted: press Retry.", keep=True)
        raise
    voice.status, voice.error = VOICE_READY, None
    voice.report = result.get("report")
    voice.conditioning_hash = result.get("conditioning_hash")
    voice.model_id = result.get("model_id")
    _make_default_if_first(db, user, voice)
    db.commit()
    return voice


async def create_voice(
    db: Session,
    inference: InferenceClient,
    data_dir: Path,
    user: User,
    upload: UploadedFile,
    name: str,
    language: str,
) -> Voice:
    """Store the upload, create the voice (processing) and have the inference service prepare it."""
    voice = Voice(
        id=new_id(),
        user_id=user.id,
        name=name,
        language=language,
        status=VOICE_PROCESSING,
        is_default=False,
    )
    voice.upload_name = _store_upload(upload, data_dir, user, voice.id)
    db.add(voice)
    db.commit()
    return await _prepare(db, inference, data_dir, user, voice)


async def retry_voice(
    db: Session, inference: InferenceClient, data_dir: Path, user: User, voice: Voice
) -> Voice:
    """Prepare a failed voice again from its stored recording (POST /api/voices/{id}/retry)."""
    if voice.status != VOICE_FAILED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"The voice is {voice.status}: only a failed voice can be prepared again.",
        )
    if not can_retry(voice) or not (voices_dir(data_dir) / str(voice.upload_name)).is_file():
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="This voice's recording was not kept (the voice engine could not use it): "
            "delete the voice and record or upload a new one.",
        )
    return await _prepare(db, inference, data_dir, user, voice)


def set_default(db: Session, user: User, voice: Voice) -> None:
    if voice.status != VOICE_READY:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"The voice is {voice.status}: only a ready voice can be the default.",
        )
    for other in user_voices(db, user):
        other.is_default = other.id == voice.id
    db.commit()


async def delete_voice(
    db: Session, inference: InferenceClient, data_dir: Path, user: User, voice: Voice
) -> None:
    # The inference service first: if it is down, nothing is deleted and the user can retry.
    await inference.delete_voice(voice.id)
    if voice.upload_name:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread((voices_dir(data_dir) / voice.upload_name).unlink)
    was_default = voice.is_default
    db.delete(voice)
    db.commit()
    if was_default:
        successor = db.scalar(
            select(Voice)
            .where(Voice.user_id == user.id, Voice.status == VOICE_READY)
            .order_by(Voice.created_at)
        )
        if successor is not None:
            successor.is_default = True
            db.commit()
