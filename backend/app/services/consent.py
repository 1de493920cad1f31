"""Consent to clone a voice: every cloned voice has one record (who, when, how).

`spoken`: the recording ends with the consent sentence (see `consent_sentence`); the inference
service must hear it, with the name, in the same voice as the rest of the recording, or the
voice is refused. `attested`: the uploader confirms the speaker's consent (an existing
recording, or an API client: the ElevenLabs `voices/add` route attests for the key's owner).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.models.user import User
from app.models.voice import CONSENT_ATTESTED, CONSENT_METHODS, CONSENT_SPOKEN, VoiceConsent
from app.services.errors import InvalidInput
from app.services.inference_client import InferenceClient

MISSING = (
    "Say how the speaker consented: send the field 'consent' as 'spoken' (the recording ends "
    'with the consent sentence "I, <name>, agree that Ownvoice may create a synthetic copy '
    "of my voice.\", <name> being the voice's name) or 'attested' (you confirm that the "
    "speaker agreed to have their voice cloned)."
)


def consent_sentence(name: str) -> str:
    """The sentence the recorder's passage ends with (frontend/.../recorder/passage.ts)."""
    return f"I, {name}, agree that Ownvoice may create a synthetic copy of my voice."


class ConsentRefused(InvalidInput):
    """A `spoken` recording whose consent sentence was not heard, or not from its speaker."""


@dataclass
class Consent:
    """What will be stored with the voice once it is created."""

    method: str
    name: str
    audio_sha256: str
    transcript: str | None = None
    speaker_similarity: float | None = None


def parse_method(value: str | None) -> str:
    method = (value or "").strip().lower()
    if method not in CONSENT_METHODS:
        raise InvalidInput(MISSING, code="consent_required")
    return method


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _refusal(check: dict[str, Any], name: str) -> ConsentRefused:
    problem = check.get("problem")
    heard = check.get("transcript") or ""
    sentence = consent_sentence(name)
    if problem == "name_not_heard":
        message = (
            f"The consent sentence was heard, but not the name '{name}' in it. Record again "
            f'and read "{sentence}" with the name as the voice is called.'
        )
    elif problem == "different_speaker":
        message = (
            "The consent sentence was spoken by a different voice than the rest of the "
            "recording: the person whose voice is cloned must say it themselves. Record again."
        )
    else:
        message = (
            f"The consent sentence was not heard in the recording. Record again and end with "
            f"\"{sentence}\", or upload with consent 'attested'."
        )
    return ConsentRefused(f'{message} (Heard: "{heard[-300:]}")', code=str(problem))


async def gather(inference: InferenceClient, recording: Path, method: str, name: str) -> Consent:
    """The consent record for `recording`; a spoken one must pass the inference service's
    check (ConsentRefused, 422, saying what was not heard)."""
    digest = await asyncio.to_thread(_sha256, recording)
    if method == CONSENT_ATTESTED:
        return Consent(method, name, digest)
    # The recorder's passage and its consent sentence are English, whatever the voice's language.
    check = await inference.check_consent(recording, name, "en")
    if not check.get("passed"):
        raise _refusal(check, name)
    return Consent(
        CONSENT_SPOKEN, name, digest, check.get("transcript"), check.get("speaker_similarity")
    )


def record_consent(db: Session, user: User, voice_id: str, consent: Consent) -> None:
    """Add the voice's consent record (committed with the voice)."""
    db.add(
        VoiceConsent(
            voice_id=voice_id,
            user_id=user.id,
            method=consent.method,
            name=consent.name,
            transcript=consent.transcript,
            speaker_similarity=consent.speaker_similarity,
            audio_sha256=consent.audio_sha256,
        )
    )


def consent_out(record: VoiceConsent | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "method": record.method,
        "user_id": record.user_id,
        "name": record.name,
        "transcript": record.transcript,
        "speaker_similarity": record.speaker_similarity,
        "audio_sha256": record.audio_sha256,
        "created_at": record.created_at,
    }
