"""Request bodies the generation routes share: parsing only; the defaults live in SynthesisOptions."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..encode import OutputFormat
from ..engines.base import SynthesisOptions
from ..synthesis import synthesis_options

_DEFAULTS = SynthesisOptions()


class SynthesisRequest(BaseModel):
    """What every generation request shares: language, output format and sampling (null: default)."""

    language: str = _DEFAULTS.language
    format: OutputFormat = _DEFAULTS.format  # type: ignore[assignment]
    speed: float = Field(_DEFAULTS.speed, ge=0.25, le=4.0)
    temperature: float | None = Field(None, gt=0.0, le=5.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1, le=1026)
    repetition_penalty: float | None = Field(None, ge=1.0, le=50.0)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)

    def options(self) -> SynthesisOptions:
        return synthesis_options(**self.model_dump(include=set(SynthesisRequest.model_fields)))
