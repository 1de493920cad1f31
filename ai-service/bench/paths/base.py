"""The interface of a synthesis path, and what every path needs: its checkpoint, its device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import WorkerSpec
from ..probes import ParagraphRun


class SynthesisPath:
    """One synthesis path: load once, then speak the paragraph; optionally time the GPT alone."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.sizes = spec.sizes

    def warm_up(self) -> None: ...

    def paragraph(self) -> ParagraphRun:
        raise NotImplementedError

    def decode_ms_per_token(self) -> float | None:
        return None

    def extra(self) -> dict[str, Any]:
        return {}


def checkpoint_dir(spec: WorkerSpec) -> Path:
    return Path(spec.checkpoint)


def device_of(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested
