"""A request's options → the `SynthesisOptions` of one synthesis (defaults: engines/base.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..engines.base import StopSignal, SynthesisOptions
from ..text import language_code

DEFAULTS = SynthesisOptions()
# What a request may set; everything it leaves out (or sends as null) keeps its default.
REQUEST_FIELDS = (
    "language",
    "format",
    "speed",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "seed",
)


def synthesis_options(**given: Any) -> SynthesisOptions:
    """The options for one synthesis: what the request gave, the defaults for the rest."""
    unknown = set(given) - set(REQUEST_FIELDS)
    if unknown:
        raise TypeError(f"not synthesis options: {sorted(unknown)}")
    chosen = {name: value for name, value in given.items() if value is not None}
    chosen["language"] = language_code(chosen.get("language", DEFAULTS.language))
    return SynthesisOptions(**chosen)


def with_stop(options: SynthesisOptions, stop: StopSignal) -> SynthesisOptions:
    return dataclasses.replace(options, stop=stop)
