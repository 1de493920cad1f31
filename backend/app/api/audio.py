"""What every API surface shares to answer with audio: `stream_speech` opens the stream for a
routed voice within the user's concurrent stream limit, and the OpenAPI descriptions of audio
answers and audio uploads. Used by POST /api/tts and the ElevenLabs- and OpenAI-compatible
routes (route modules never import each other)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.core.limits import StreamSlot
from app.models.user import User
from app.services.errors import TooMany
from app.services.speech import AudioStream, SpeechRequest, Synthesizer, VoiceTarget


def synthesizer(request: Request) -> Synthesizer:
    state = request.app.state
    checker = getattr(state, "live_checker", None)  # hears live sentences once cached
    return Synthesizer(
        state.inference,
        state.elevenlabs,
        state.audio_cache,
        checker.after_cached if checker is not None else None,
    )


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
            await self.slot.arelease()


def audio_response(audio: AudioStream, slot: StreamSlot) -> StreamingResponse:
    headers = {
        **audio.headers,
        "X-Cache": "hit" if audio.cache_hit else "miss",
        "Cache-Control": "no-store",
    }
    return SlotStreamingResponse(audio, headers, slot)


STREAM_RETRY_SECONDS = 5


async def hold_stream_slot(request: Request, user: User) -> StreamSlot:
    limiter = request.app.state.stream_limiter
    slot = await limiter.aacquire(user.id)
    if slot is None:
        raise TooMany(
            f"You already have {limiter.per_user} audio streams open, the most "
            "one user may have at once: let one finish or stop it, then try again.",
            code="too_many_concurrent_requests",
            retry_after=STREAM_RETRY_SECONDS,
        )
    return slot


async def stream_speech(
    request: Request, user: User, target: VoiceTarget, speech: SpeechRequest
) -> StreamingResponse:
    """The audio for `speech` in `target`'s voice, streamed within the user's stream limit.
    The route's database session is closed when the route returns, before the stream."""
    slot = await hold_stream_slot(request, user)
    try:
        audio = await synthesizer(request).speak(target, speech)
    except BaseException:
        await slot.arelease()
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


VOICE_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["audio", "name", "consent"],
                    "properties": {
                        "audio": {
                            "type": "string",
                            "format": "binary",
                            "description": "wav, mp3, m4a, webm, ogg or flac; at most 25 MB",
                        },
                        "name": {"type": "string", "maxLength": 100},
                        "language": {"type": "string", "default": "en"},
                        "consent": {
                            "type": "string",
                            "enum": ["spoken", "attested"],
                            "description": "spoken: the recording ends with 'I, <name>, agree "
                            "that Ownvoice may create a synthetic copy of my voice.' (checked); "
                            "attested: the uploader confirms the speaker's consent",
                        },
                    },
                }
            }
        },
    }
}
