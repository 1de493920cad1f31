"""The inference service's settings: one pydantic-settings class, read from the environment.

Most variables carry the `OWNVOICE_` prefix; the model variables keep the names users know from
coqui-tts (`XTTS_MODEL_DIR`, `COQUI_TOS_AGREED`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import psutil
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OWNVOICE_", extra="ignore")

    data_dir: Path = Path("./data")
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("OWNVOICE_AI_HOST"))
    port: int = Field(8000, ge=1, le=65535, validation_alias=AliasChoices("OWNVOICE_AI_PORT"))
    inference_token: str | None = None

    # Model source, in order: XTTS_MODEL_DIR, OWNVOICE_DEMO_MODEL, a previous download in
    # DATA_DIR/models, a hub download when COQUI_TOS_AGREED=1.
    xtts_model_dir: Path | None = Field(None, validation_alias=AliasChoices("XTTS_MODEL_DIR"))
    demo_model: Literal["tiny", "full"] | None = None
    coqui_tos_agreed: bool = Field(False, validation_alias=AliasChoices("COQUI_TOS_AGREED"))
    hub_repo: str = "coqui/XTTS-v2"
    load_xtts: bool = True
    load_piper: bool = True

    # Compute
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    torch_threads: int = Field(default_factory=physical_cores, ge=1)
    # On a CUDA device the GPT decode step is replayed as a CUDA graph (engines/xtts_static.py).
    cuda_graphs: bool = True
    # fp32, or the fast CPU path: int8 dynamic quantisation of the GPT, the vocoder overlapped on a
    # second thread, and a bf16 vocoder on CPUs with native bf16 (the output changes slightly: see
    # the README's Performance section). auto measures fp32 at load and takes int8 on a CPU where
    # fp32 is slower than real time (engines/precision.py); /ready says which and why.
    xtts_precision: Literal["auto", "fp32", "int8"] = "auto"
    mps_self_test_tokens: int = 8

    # Replicas of this service behind one URL (set by ownvoice_ai.serve on Ray Serve; /ready says
    # it, and the app server keeps that many render batches in flight).
    replicas: int = Field(1, ge=1)
    # A simulated XTTS for scaling runs (make bench-scale): each audio token costs this many seconds
    # of sleep and no CPU, the audio is silence (engines/simulated.py). Unset: the real model.
    simulate_token_s: float | None = Field(None, gt=0)

    # Generation
    queue_size: int = Field(8, ge=0)  # requests waiting behind the running one, per device
    # A generation that produces no audio for this long is stuck: it is stopped (queueing excluded).
    generation_timeout_s: float = Field(60.0, gt=0)
    retry_after_s: int = 2
    # Audio tokens per streamed chunk: a small first chunk for time to first audio, then larger.
    first_chunk_tokens: int = Field(8, ge=1)
    chunk_tokens: int = Field(24, ge=1)
    # Force every XTTS sentence to exactly this many audio tokens (tests and benchmarks; the tiny
    # random model would otherwise run to the 602-token limit).
    xtts_fixed_tokens: int | None = Field(None, ge=1, le=602)
    # Sentences generated together by POST /generate/batch (book rendering): one GPT pass per
    # audio token serves the whole batch. The KV cache grows by about 250 kB per row and token.
    xtts_batch_size: int = Field(8, ge=1, le=64)
    # Concurrent listeners' sentences decode together, as rows of one GPT batch of at most this
    # many (engines/xtts_listeners.py; not with CUDA graphs). 1: each stream decodes alone.
    listener_batch: int = Field(8, ge=1, le=64)
    # A streamed text's next sentences decode beside the one being heard, as rows of that batch
    # (at most this many ahead per stream, and at most half the batch in all). 0: one at a time.
    read_ahead: int = Field(1, ge=0, le=16)
    # Verification (ownvoice_ai/verify): every sentence of POST /generate/batch is heard by speech
    # recognition and taken again (new seed, a little cooler) when it fails, up to `verify_takes`
    # takes. `asr_model` names a local CTranslate2 Whisper directory instead of the bundled tiny.en.
    verify: bool = True
    verify_takes: int = Field(3, ge=1, le=10)
    asr_model: Path | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    max_text_chars: int = 100_000

    @field_validator(
        "demo_model",
        "xtts_model_dir",
        "inference_token",
        "asr_model",
        "simulate_token_s",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @cached_property
    def voices_dir(self) -> Path:
        return self.data_dir / "voices"

    @cached_property
    def conditioning_dir(self) -> Path:
        return self.data_dir / "cache" / "conditioning"

    @cached_property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @cached_property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"
