"""Domain errors of the inference service: what went wrong and what to do next, without HTTP.

Synthesis (synthesis/) and the voice routes raise these; `api/errors.py` is the one place that
turns each kind into a status code and the contract's `{"detail": {"code", "message"}}` body.
`code` is the contract's snake_case error code; `retry_after_s`, when set, becomes Retry-After.
"""

from __future__ import annotations


class ServiceError(Exception):
    code = "failed"

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


# --- the request names something that does not exist or cannot be used -------------------------


class NoVoiceNamed(ServiceError):
    code = "missing_voice"


class VoicePathRefused(ServiceError):
    code = "invalid_path"


class InvalidVoiceId(ServiceError):
    code = "invalid_voice_id"


class UnknownVoice(ServiceError):
    code = "unknown_voice"


class CloningUnavailable(ServiceError):
    code = "cloning_unavailable"


# --- the text ---------------------------------------------------------------------------------


class TooMuchText(ServiceError):
    code = "text_too_long"


class LanguageUnsupported(ServiceError):
    code = "unsupported_language"


class NothingToSay(ServiceError):
    code = "nothing_to_say"


class InvalidText(ServiceError):
    """The engine refused the text once the job ran (a chunk over its token limit, a language)."""

    code = "invalid_text"


class UploadTooLarge(ServiceError):
    code = "too_large"


# --- the device worker ------------------------------------------------------------------------


class Busy(ServiceError):
    """The worker's queue is full: retry after `retry_after_s`."""

    code = "busy"


class CancelledBeforeStart(ServiceError):
    code = "cancelled"


class StartTimedOut(ServiceError):
    code = "generation_timeout"


class GenerationFailed(ServiceError):
    code = "generation_failed"


class ConditioningTimedOut(ServiceError):
    code = "conditioning_timeout"


class ConditioningFailed(ServiceError):
    code = "conditioning_failed"
