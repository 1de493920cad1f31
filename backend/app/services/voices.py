"""A user's cloned voices: create from an upload, prepare, rename, default, delete; at start,
finish preparing the voices a crash left in `processing`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.files import fsync_replace
from app.models.user import User, new_id
from app.models.voice import VOICE_FAILED, VOICE_PROCESSING, VOICE_READY, Voice
from app.schemas.text import forbidden_character
from app.services.consent import Consent, consent_out, record_consent
from app.services.errors import Conflict, InvalidInput, VoiceNotFound
from app.services.inference_client import InferenceClient, InferenceError
from app.services.uploads import UploadedFile

log = logging.getLogger("ownvoice.voices")
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
        "consent": consent_out(voice.consent),
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
        raise VoiceNotFound(voice_id)
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
        raise InvalidInput(
            "Give the voice a name of 1 to 100 characters.",
        )
    character = forbidden_character(name)
    if character is not None:
        raise InvalidInput(
            f"The voice's name contains the control character {character}: remove it."
        )
    return name


def validate_language(language: str | None) -> str:
    language = (language or "en").strip()
    if not LANGUAGE_PATTERN.match(language):
        raise InvalidInput(
            f"'{language}' is not a language code: use e.g. 'en' or 'de'.",
        )
    return language


def _store_upload(upload: UploadedFile, data_dir: Path, user: User, voice_id: str) -> str:
    final = voices_dir(data_dir) / f"{user.id}_{voice_id}_reference.{upload.kind}"
    fsync_replace(upload.path, final)  # atomic and durable: the temp file is in the same directory
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
    _mark_ready(db, user, voice, result)
    return voice


async def create_voice(
    db: Session,
    inference: InferenceClient,
    data_dir: Path,
    user: User,
    upload: UploadedFile,
    name: str,
    language: str,
    consent: Consent,
) -> Voice:
    """Store the upload, create the voice (processing) with its consent record, and have the
    inference service prepare it."""
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
    record_consent(db, user, voice.id, consent)
    db.commit()
    return await _prepare(db, inference, data_dir, user, voice)


async def retry_voice(
    db: Session, inference: InferenceClient, data_dir: Path, user: User, voice: Voice
) -> Voice:
    """Prepare a failed voice again from its stored recording (POST /api/voices/{id}/retry)."""
    if voice.status != VOICE_FAILED:
        raise Conflict(
            f"The voice is {voice.status}: only a failed voice can be prepared again.",
        )
    if not can_retry(voice) or not (voices_dir(data_dir) / str(voice.upload_name)).is_file():
        raise Conflict(
            "This voice's recording was not kept (the voice engine could not use it): "
            "delete the voice and record or upload a new one.",
        )
    return await _prepare(db, inference, data_dir, user, voice)


def _mark_ready(db: Session, user: User, voice: Voice, result: dict[str, Any]) -> None:
    voice.status, voice.error = VOICE_READY, None
    voice.report = result.get("report")
    voice.conditioning_hash = result.get("conditioning_hash")
    voice.model_id = result.get("model_id")
    _make_default_if_first(db, user, voice)
    db.commit()


# --- voices a crash left in "processing" ----------------------------------------------

RESUME_READY_TIMEOUT = 30 * 60.0  # how long to wait for the inference service to load
RESUME_POLL_SECONDS = (1.0, 2.0, 5.0, 10.0)  # back-off between readiness checks
RESUME_ATTEMPTS = 3
LOST_RECORDING = (
    "The server stopped while preparing this voice and its recording is gone: upload it again."
)
NEVER_READY = (
    "The server restarted while preparing this voice and the inference service did not "
    "become ready to finish it: check that it runs (make start), then press Retry."
)


@dataclass
class _Failure:
    message: str
    keep: bool  # keep the recording (not its fault): Retry can prepare it again


async def _wait_for_cloning(inference: InferenceClient, timeout: float) -> bool:
    """Poll /ready (with back-off) until the inference service can clone; False on timeout."""
    loop = asyncio.get_running_loop()
    deadline, attempt = loop.time() + timeout, 0
    while True:
        with contextlib.suppress(InferenceError):
            if (await inference.ready(fresh=True)).get("cloning_available"):
                return True
        pause = RESUME_POLL_SECONDS[min(attempt, len(RESUME_POLL_SECONDS) - 1)]
        if loop.time() + pause > deadline:
            return False
        await asyncio.sleep(pause)
        attempt += 1


async def _prepare_from(
    inference: InferenceClient, voice_id: str, recording: Path, language: str
) -> dict[str, Any] | _Failure:
    """The inference service's answer for a stored recording, or why it could not be had."""
    for attempt in range(RESUME_ATTEMPTS):
        if not await _wait_for_cloning(inference, RESUME_READY_TIMEOUT):
            break
        try:
            return await inference.put_voice(voice_id, recording, language)
        except InferenceError as exc:
            if not _recording_was_fine(exc) or attempt == RESUME_ATTEMPTS - 1:
                return _Failure(exc.message, keep=_recording_was_fine(exc))
    return _Failure(NEVER_READY, keep=True)


def _finish(
    factory: Callable[[], Session],
    data_dir: Path,
    voice_id: str,
    outcome: dict[str, Any] | _Failure,
) -> bool:
    """Record a resumed preparation's outcome; False if the voice was deleted meanwhile."""
    with factory() as db:
        voice = db.get(Voice, voice_id)
        if voice is None:
            return False
        if isinstance(outcome, _Failure):
            _mark_failed(db, voice, data_dir, outcome.message, keep=outcome.keep)
        else:
            _mark_ready(db, db.get_one(User, voice.user_id), voice, outcome)
        return True


async def _prepare_again(
    factory: Callable[[], Session], inference: InferenceClient, data_dir: Path, voice_id: str
) -> None:
    """Prepare one interrupted voice from its stored recording, or fail it with a reason."""
    with factory() as db:  # short: no session is held while the inference service works
        voice = db.get(Voice, voice_id)
        if voice is None or voice.status != VOICE_PROCESSING:
            return
        recording = voices_dir(data_dir) / voice.upload_name if voice.upload_name else None
        language = voice.language
    if recording is None or not recording.is_file():
        outcome: dict[str, Any] | _Failure = _Failure(LOST_RECORDING, keep=False)
    else:
        outcome = await _prepare_from(inference, voice_id, recording, language)
    ready = not isinstance(outcome, _Failure)
    if not _finish(factory, data_dir, voice_id, outcome) and ready:
        with contextlib.suppress(InferenceError):  # deleted while it was being prepared
            await inference.delete_voice(voice_id)
    log.info("resumed an interrupted voice", extra={"voice_id": voice_id, "ready": ready})


async def resume_interrupted_voices(
    factory: Callable[[], Session], inference: InferenceClient, data_dir: Path
) -> None:
    """At start: every voice still `processing` was cut off by a crash or a restart (no request
    is in flight yet). Prepare each again once the inference service is ready, or fail it with
    a reason the user can act on; never leave one in `processing` for good."""
    with factory() as db:
        ids = list(db.scalars(select(Voice.id).where(Voice.status == VOICE_PROCESSING)))
    for voice_id in ids:
        try:
            await _prepare_again(factory, inference, data_dir, voice_id)
        except Exception:  # one voice's bug must not stop the others
            log.exception("could not resume a voice", extra={"voice_id": voice_id})


def set_default(db: Session, user: User, voice: Voice) -> None:
    if voice.status != VOICE_READY:
        raise Conflict(
            f"The voice is {voice.status}: only a ready voice can be the default.",
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
