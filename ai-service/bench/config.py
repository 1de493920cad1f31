"""What the benchmark measures: the paragraph, the paths, the sizes, and a worker's orders."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

AI_SERVICE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = AI_SERVICE_DIR.parent

DEFAULT_OUT = AI_SERVICE_DIR / "bench-results" / "bench.json"
CHECKPOINT_VARIANTS = ("tiny", "full")


# A three-sentence paragraph (Alice in Wonderland). Its length in characters does not matter for
# the timing: every sentence is forced to the same number of audio tokens.
PARAGRAPH = [
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "Once or twice she had peeped into the book her sister was reading.",
    "But it had no pictures or conversations in it, thought Alice.",
]
LANGUAGE = "en"
SAMPLING = {"temperature": 0.75, "top_p": 0.85, "top_k": 50, "repetition_penalty": 5.0}
CODES_PER_SECOND = 22050 / 1024  # XTTS: one audio code per 1024 samples at 22.05 kHz
OUTPUT_RATE = 24000

PATHS = {
    "coqui-inference": "(a) coqui Xtts.inference, conditioning per request",
    "coqui-stream": "(b) coqui Xtts.inference_stream",
    "ours-fp32": "(c) ours, fp32",
    "ours-int8": "(d) ours, int8 GPT",
    "ours-fp32-overlap": "(e) ours, fp32, vocoder overlapped",
    "ours-int8-overlap": "(f) ours, int8 GPT, vocoder overlapped",
    "ours-fast": "(g) ours, int8 + bf16 vocoder, overlapped",
    "ours-fp16": "(h) ours, fp16 GPT + vocoder (GPU)",
    "ours-batch": "(i) ours, fp32, the 3 sentences as one batch",
    "ours-fast-batch": "(j) ours, fast option, 3 sentences as one batch",
    "ours-default": "(k) the service, default settings (auto precision)",
}
# Book rendering (POST /generate/batch): the batched paths also render BATCH_SENTENCES sentences
# at each of these batch sizes; aggregate throughput is what a long book needs.
BATCH_SIZES = (1, 4, 8)
BATCH_SENTENCES = 8
# The KV-cache comparison: decode steps at this batch size, this far into a sentence.
KV_BATCH = 8
KV_POSITION = 320
KV_STEPS = 8
# (d) is left out by default to keep the run short: (f) is (d) with the vocoder overlapped.
DEFAULT_PATHS = [
    "coqui-inference",
    "coqui-stream",
    "ours-fp32",
    "ours-fp32-overlap",
    "ours-int8-overlap",
    "ours-fast",
    "ours-fp16",
    "ours-batch",
    "ours-fast-batch",
    "ours-default",
]
BASELINES = ("coqui-inference", "coqui-stream")


@dataclass(frozen=True)
class Sizes:
    tokens_per_sentence: int
    repeats: int
    decode_tokens: int
    numerics_tokens: int
    placement_sentences: int = 16  # mixed-length sentences where the vocoder runs is measured on
    verified_sentences: int = BATCH_SENTENCES  # rendered unheard, then heard (verification cost)

    @classmethod
    def for_run(cls, quick: bool, tokens: int | None, repeats: int | None) -> Sizes:
        # Default: 48 codes (2.2 s of speech) per sentence and two repeats of every path, about
        # 5 minutes on a 2-core CPU. Quick: enough to exercise every code path.
        base = cls(8, 1, 8, 8, 3, 2) if quick else cls(48, 2, 16, 24, 16, BATCH_SENTENCES)
        return cls(
            tokens_per_sentence=tokens or base.tokens_per_sentence,
            repeats=repeats or base.repeats,
            decode_tokens=base.decode_tokens,
            numerics_tokens=base.numerics_tokens,
            placement_sentences=base.placement_sentences,
            verified_sentences=base.verified_sentences,
        )


@dataclass
class WorkerSpec:
    path: str
    checkpoint: str
    device: str
    threads: int | None
    sizes: Sizes
    reference_wav: str
    result_file: str

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "sizes": asdict(self.sizes)})

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        data = json.loads(text)
        data["sizes"] = Sizes(**data["sizes"])
        return cls(**data)
