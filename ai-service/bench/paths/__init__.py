"""The synthesis paths, one class each; `WORKERS` maps a path's name to its class."""

from __future__ import annotations

from .base import SynthesisPath
from .batch import BatchRendering, OursFastBatch
from .coqui import CoquiInference, CoquiStream
from .ours import OursFast, OursFp32, OursFp32Overlap, OursHalf, OursInt8, OursInt8Overlap
from .service import ServiceDefault

WORKERS: dict[str, type[SynthesisPath]] = {
    "coqui-inference": CoquiInference,
    "coqui-stream": CoquiStream,
    "ours-fp32": OursFp32,
    "ours-int8": OursInt8,
    "ours-fp32-overlap": OursFp32Overlap,
    "ours-int8-overlap": OursInt8Overlap,
    "ours-fast": OursFast,
    "ours-fp16": OursHalf,
    "ours-batch": BatchRendering,
    "ours-fast-batch": OursFastBatch,
    "ours-default": ServiceDefault,
}
