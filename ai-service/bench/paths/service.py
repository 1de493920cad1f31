"""(k) The inference service with its default settings: what a new user gets (path `ours-default`).

The engine, worker and precision are built by `ownvoice_ai.services.build_services` from default
`Settings` (only the checkpoint, data directory, device, threads and the forced token count are
the bench's), so `OWNVOICE_XTTS_PRECISION=auto` picks fp32 or the int8 fast path here exactly as
the service would. The paragraph is streamed through `XttsEngine.stream` as /generate does; then
1, 4 and 8 listeners arrive together on the service's device worker (round-robin turns,
worker.py): each one's time to first audio and the aggregate real-time factor.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..config import LANGUAGE, OUTPUT_RATE, PARAGRAPH, SAMPLING, WorkerSpec
from ..probes import ParagraphRun, progress, timed_stream
from ..reference import read_reference
from .base import SynthesisPath, checkpoint_dir, device_of

LISTENER_COUNTS = (1, 4, 8)
LISTENER_WAIT_S = 3600.0  # per item; bounds a stuck run only


class ServiceDefault(SynthesisPath):
    def __init__(self, spec: WorkerSpec) -> None:
        super().__init__(spec)
        from ownvoice_ai.conditioning import Conditioning
        from ownvoice_ai.config import Settings
        from ownvoice_ai.services import build_services

        self._data = tempfile.TemporaryDirectory(prefix="ownvoice-bench-service-")
        overrides: dict[str, Any] = {
            "data_dir": Path(self._data.name),
            "xtts_model_dir": checkpoint_dir(spec),
            "load_piper": False,
            "device": device_of(spec.device),
            "xtts_fixed_tokens": spec.sizes.tokens_per_sentence,
            "queue_size": max(LISTENER_COUNTS),
        }
        if spec.threads:
            overrides["torch_threads"] = spec.threads
        self.services = build_services(Settings(**overrides))
        self.engine = self.services.xtts
        if not self.engine.available:
            raise RuntimeError(self.engine.status().reason)
        audio, rate = read_reference(spec.reference_wav)
        latent, speaker = self.engine.compute_conditioning(audio, rate)
        self.voice = Conditioning(latent, speaker, "bench", "bench")

    def _options(self, seed: int = 0):
        from ownvoice_ai.engines.base import StopSignal, SynthesisOptions

        return SynthesisOptions(language=LANGUAGE, seed=seed, stop=StopSignal(), **SAMPLING)

    def warm_up(self) -> None:
        from ownvoice_ai.engines.xtts import StreamTuning

        tuning = self.engine.tuning
        self.engine.tuning = StreamTuning(fixed_tokens=2, overlap_vocoder=tuning.overlap_vocoder)
        try:
            list(self.engine.stream(PARAGRAPH[0], self.voice, self._options()))
        finally:
            self.engine.tuning = tuning

    def paragraph(self) -> ParagraphRun:
        start = time.perf_counter()
        first, samples = None, 0
        for sentence in PARAGRAPH:
            chunks = self.engine.stream(sentence, self.voice, self._options())
            sentence_first, n = timed_stream(chunks, start, lambda chunk: len(chunk.samples))
            first = first if first is not None else sentence_first
            samples += n
            progress(self.sizes.tokens_per_sentence)
        return ParagraphRun(first or 0.0, time.perf_counter() - start, samples / OUTPUT_RATE)

    def extra(self) -> dict[str, Any]:
        listeners = {str(n): self.listeners(n) for n in LISTENER_COUNTS}
        self.services.close()
        status = self.engine.status()
        return {
            "precision": status.extra.get("precision"),
            "vocoder_dtype": status.extra.get("vocoder_dtype"),
            "listeners": listeners,
        }

    # --- concurrent listeners -----------------------------------------------------------

    def listeners(self, count: int) -> dict[str, Any]:
        """`count` listeners submitted together to the service's worker, one sentence each."""
        firsts, samples, wall = asyncio.run(self._listen(count))
        progress(count * self.sizes.tokens_per_sentence)
        audio_s = samples / OUTPUT_RATE
        return {
            "first_audio_s": firsts,
            "first_audio_p50_s": float(np.percentile(firsts, 50)),
            "first_audio_p95_s": float(np.percentile(firsts, 95)),
            "wall_s": wall,
            "audio_s": audio_s,
            "aggregate_rtf": wall / audio_s if audio_s else None,
        }

    async def _listen(self, count: int) -> tuple[list[float], int, float]:
        start = time.perf_counter()
        handles = []
        for seed in range(count):
            options = self._options(seed)
            assert options.stop is not None
            handles.append(self.services.worker.submit(self._job(options), options.stop))

        async def consume(handle) -> tuple[float, int]:
            first, n = None, 0
            async for chunk in handle.items(LISTENER_WAIT_S):
                if first is None and len(chunk.samples):
                    first = time.perf_counter() - start
                n += len(chunk.samples)
            return first if first is not None else float("nan"), n

        results = await asyncio.gather(*(consume(handle) for handle in handles))
        wall = time.perf_counter() - start
        return [first for first, _ in results], sum(n for _, n in results), wall

    def _job(self, options):
        def produce() -> Iterator[Any]:
            return self.engine.stream(PARAGRAPH[0], self.voice, options)

        return produce
