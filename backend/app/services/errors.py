"""Domain errors: what the services raise when a request cannot be served.

Services never speak HTTP. Each error carries the status it stands for and a message that
says what to do next; one exception handler (app.api.error_shapes.domain_error_response)
answers it in the shape of the API surface the request came in on (the app's own JSON,
ElevenLabs-shaped, OpenAI-shaped).
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the services refuse; `status_code` is the HTTP answer it stands for."""

    status_code: int = 400

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: int | str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # machine-readable, on every surface (e.g. "too_many_concurrent_requests")
        self.retry_after = retry_after

    def for_elevenlabs(self) -> tuple[str, str | None]:
        """The message and status name on the ElevenLabs-compatible surface."""
        return self.message, self.code


class BadRequest(DomainError):
    status_code = 400


class InvalidInput(DomainError):
    status_code = 422


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class TooLarge(DomainError):
    status_code = 413


class UnsupportedMediaType(DomainError):
    status_code = 415


class InsufficientStorage(DomainError):
    """Not enough disk space, or the user's quota, for what was asked (RFC 4918 and RFC 4331
    use 507 for both; `code` tells them apart)."""

    status_code = 507


class TooMany(DomainError):
    """Too many audio streams open, or render jobs queued, at once (with Retry-After)."""

    status_code = 429


class VoiceNotFound(NotFound):
    """Not one of the user's voices, a stock voice or an ElevenLabs voice (another user's
    voice is indistinguishable from a missing one)."""

    def __init__(
        self, voice_id: str, message: str = "No such voice.", *, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.voice_id = voice_id

    def for_elevenlabs(self) -> tuple[str, str | None]:
        return f"A voice with id '{self.voice_id}' was not found.", "voice_not_found"


class VoiceNotReady(Conflict):
    """The voice is still being prepared, or failed to prepare."""


class NoVoiceOfYourOwn(BadRequest):
    def __init__(self) -> None:
        super().__init__(
            "You have no voice of your own yet: record or upload one "
            "under Voices, or choose a stock voice."
        )


class ElevenLabsNotConfigured(BadRequest):
    """A voice id that only ElevenLabs could speak, with no ElevenLabs key set."""


class NotRenderable(BadRequest):
    """A voice that is never rendered ahead (ElevenLabs: paid per character)."""


class UpstreamError(DomainError):
    """A service we call (inference, ElevenLabs) answered with an error or was unreachable;
    its status (or 502/503) is passed on with its code, e.g. "inference_unreachable"."""

    def __init__(
        self, status_code: int, code: str, message: str, retry_after: str | None = None
    ) -> None:
        super().__init__(message, code=code, retry_after=retry_after)
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message
