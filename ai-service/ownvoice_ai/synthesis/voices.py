"""Which voice a request names, and what kind it is: a stock voice or an uploaded clone.

The kind is decided here, once per request, by what the service lists as stock voices (Piper's
voices); the rest of the pipeline asks `Voice.kind`. Stock voice ids share a reserved prefix so
that no upload can take one's name (`check_upload_id`).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from ..conditioning import valid_voice_id
from ..errors import (
    CloningUnavailable,
    InvalidVoiceId,
    NoVoiceNamed,
    UnknownVoice,
    VoicePathRefused,
)
from ..services import Services

STOCK_PREFIX = "stock-"  # reserved for stock voice ids: an upload may not start with it


class VoiceKind(enum.Enum):
    CLONE = "clone"  # an uploaded reference, spoken by XTTS
    STOCK = "stock"  # a bundled voice, spoken by Piper


@dataclass(frozen=True)
class Voice:
    voice_id: str
    kind: VoiceKind


def stock_voice_ids(services: Services) -> set[str]:
    return (
        {voice.voice_id for voice in services.piper.voices()}
        if services.piper is not None
        else set()
    )


def resolve_voice(
    services: Services, voice_id: str | None, speaker_wav_path: str | None = None
) -> Voice:
    """The voice a request names by id (or, for /generate, by a reference path)."""
    if voice_id is not None:
        return known_voice(services, voice_id)
    if speaker_wav_path is None:
        raise NoVoiceNamed(
            "Name a voice: set voice_id (or speaker_wav_path inside the voices directory)."
        )
    voice_id = voice_from_path(speaker_wav_path, services.settings.voices_dir)
    return Voice(cloning_ready(services, voice_id), VoiceKind.CLONE)


def known_voice(services: Services, voice_id: str) -> Voice:
    """A stock voice, or an uploaded voice when cloning is available."""
    if voice_id in stock_voice_ids(services):
        return Voice(voice_id, VoiceKind.STOCK)
    if voice_id.startswith(STOCK_PREFIX):  # a stock name the service does not have
        raise UnknownVoice(f"No stock voice '{voice_id}': see GET /stock-voices.")
    if not valid_voice_id(voice_id) or not services.store.exists(voice_id):
        raise UnknownVoice("No such voice: upload it with PUT /voices/{voice_id} first.")
    return Voice(cloning_ready(services, voice_id), VoiceKind.CLONE)


def cloning_ready(services: Services, voice_id: str) -> str:
    if not services.cloning_available:
        raise CloningUnavailable(services.xtts.status().reason or "XTTS is not loaded.")
    return voice_id


def check_upload_id(voice_id: str) -> None:
    """An id an uploaded voice may have: valid, and not in the stock voices' namespace."""
    if not valid_voice_id(voice_id) or voice_id.startswith(STOCK_PREFIX):
        raise InvalidVoiceId(
            f"Use a voice id of 1-64 letters, digits, '_' or '-' that does not start with '{STOCK_PREFIX}'."
        )


def voice_from_path(raw: str, voices_dir: Path) -> str:
    """The voice id of a reference path, accepted only if it resolves inside the voices directory.

    Every refusal is the same error, so the answer never tells whether a file exists elsewhere.
    """
    refused = VoicePathRefused(
        "speaker_wav_path must name a voice file in the voices directory; use voice_id."
    )
    if "\x00" in raw or not raw.strip():
        raise refused
    root = Path(os.path.realpath(voices_dir))
    candidate = Path(raw) if os.path.isabs(raw) else root / raw
    resolved = Path(os.path.realpath(candidate))
    if resolved.parent != root or resolved.suffix != ".wav" or not valid_voice_id(resolved.stem):
        raise refused
    if not resolved.is_file():
        raise refused
    return resolved.stem
