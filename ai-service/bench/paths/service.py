"""(k) The inference service with its default settings: what a new user gets (path `ours-default`).

The engine, worker and precision are built by `ownvoice_ai.services.build_services` from default
`Settings` (only the checkpoint, data directory, device, threads and the forced token count are
the bench's), so `OWNVOICE_XTTS_PRECISION=auto` picks fp32 or the int8 fast path here exactly as
the service would. The paragraph is streamed through `XttsEngine.stream_chunks` as /generate does
(read ahead; and once more sentence after sentence, with the playback stalls of each); then
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
from ..probes import ParagraphRun, Playback, progress
from ..reference import read_reference
from .base import SynthesisPath, checkpoint_dir, device_of

LISTENER_COUNTS = (1, 4, 8)
# The reader in the browser (frontend use-player.ts, playback-queue.ts): each sentence fetched
# whole, the one playing and up to 3 after it, at most 2 requests at a time.
READER_SENTENCES = 12
READER_LOOKAHEAD = 3
READER_FETCHES = 2
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
        tokenizer = self.engine.count_tokens(LANGUAGE)
        self.chunks = [tokenizer.tokenized(sentence) for sentence in PARAGRAPH]

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
        """The paragraph as one /generate streams it: its sentences through
        `XttsEngine.stream_chunks` (the next ones read ahead, as the service does)."""
        start = time.perf_counter()
        playback = Playback(OUTPUT_RATE)
        for chunk in self.engine.stream_chunks(self.chunks, self.voice, self._options()):
            playback.arrived(time.perf_counter() - start, len(chunk.samples))
            if chunk.is_last:
                progress(self.sizes.tokens_per_sentence)
        return ParagraphRun(
            playback.first_s or 0.0,
            time.perf_counter() - start,
            playback.samples / OUTPUT_RATE,
            playback.stall_s,
        )

    def sentence_after_sentence(self) -> dict[str, Any]:
        """The same paragraph with read-ahead off (`OWNVOICE_READ_AHEAD=0`), same run."""
        ahead, self.engine.read_ahead = self.engine.read_ahead, 0
        try:
            runs = [self.paragraph() for _ in range(self.sizes.repeats)]
        finally:
            self.engine.read_ahead = ahead
        return {
            "ttfa_s": float(np.median([run.ttfa_s for run in runs])),
            "rtf": float(np.median([run.total_s / run.audio_s for run in runs])),
            "stall_s": float(np.median([run.stall_s or 0.0 for run in runs])),
        }

    def extra(self) -> dict[str, Any]:
        one_at_a_time = self.sentence_after_sentence()
        reader = asyncio.run(self._read(READER_SENTENCES))
        progress(READER_SENTENCES * self.sizes.tokens_per_sentence)
        listeners = {str(n): self.listeners(n) for n in LISTENER_COUNTS}
        verified = self.verified_rendering()
        self.services.close()
        status = self.engine.status()
        return {
            "precision": status.extra.get("precision"),
            "vocoder_dtype": status.extra.get("vocoder_dtype"),
            "read_ahead": self.engine.read_ahead,
            "sentence_after_sentence": one_at_a_time,
            "reader": reader,
            "listeners": listeners,
            "verified_rendering": verified,
        }

    # --- book rendering with verification off and on -------------------------------------

    def verified_rendering(self) -> dict[str, Any]:
        """The same sentences rendered twice through the service's batch path (the job's
        `Takes` over `jobs.xtts_render`, as POST /generate/batch runs them): one take unheard,
        then one take heard (speech recognition and speaker similarity, synthesis.verified).
        Retakes are not in it: how often a take fails depends on the model (the bench's random
        one fails every take), not on what hearing costs."""
        from ownvoice_ai.synthesis.jobs import TextAudio, one_take, xtts_render
        from ownvoice_ai.synthesis.text import xtts_chunks
        from ownvoice_ai.synthesis.verified import BestOf
        from ownvoice_ai.verify.asr import recognizer
        from ownvoice_ai.verify.speaker import speaker_embedding

        texts = [PARAGRAPH[i % len(PARAGRAPH)] for i in range(self.sizes.verified_sentences)]
        per_text = asyncio.run(xtts_chunks(self.services, texts, LANGUAGE))
        reference, rate = read_reference(self.spec.reference_wav)
        recognizer().transcribe(reference[: rate * 2], rate, LANGUAGE)  # loaded before timing

        def render(indices: list[int], options) -> Iterator[Any]:
            return xtts_render(self.engine, self.voice, per_text, indices, options)

        def timed(takes) -> tuple[float, float]:
            start, samples = time.perf_counter(), 0
            for event in takes(render, self._options(), lambda: speaker_embedding(reference, rate)):
                if isinstance(event, TextAudio):
                    samples += len(event.samples)
            progress(len(texts) * self.sizes.tokens_per_sentence)
            return time.perf_counter() - start, samples / OUTPUT_RATE

        off_s, audio_s = timed(one_take(len(texts)))
        on_s, heard_s = timed(BestOf(texts, takes=1))
        return {
            "sentences": len(texts),
            "batch_size": self.engine.batch_size,
            "audio_s": audio_s,
            "off_s": off_s,
            "on_s": on_s,
            "x_real_time_off": audio_s / off_s,
            "x_real_time_on": heard_s / on_s,
            "hearing_s_per_audio_s": (on_s - off_s) / heard_s if heard_s else None,
            "throughput_cost": 1.0 - (heard_s / on_s) / (audio_s / off_s),
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

    def _job(self, options, text: str = PARAGRAPH[0]):
        def produce() -> Iterator[Any]:
            return self.engine.stream(text, self.voice, options)

        return produce

    # --- the reader ---------------------------------------------------------------------

    async def _read(self, count: int) -> dict[str, Any]:
        """A chapter of `count` sentences played as the browser's reader plays a book: sentence
        i is requested (whole) once it is within READER_LOOKAHEAD of the one playing and fewer
        than READER_FETCHES requests are out; sentences play back to back at real time, each
        as soon as it is there and the one before has ended. Returns when the first sentence
        could start and how long playback stood still after that."""
        texts = [PARAGRAPH[i % len(PARAGRAPH)] for i in range(count)]
        start = time.perf_counter()
        fetches: dict[int, asyncio.Task] = {}
        arrived: dict[int, tuple[float, int]] = {}

        def now() -> float:
            return time.perf_counter() - start

        async def fetch(index: int) -> None:
            options = self._options(index)
            assert options.stop is not None
            job = self._job(options, texts[index])
            handle = self.services.worker.submit(job, options.stop)
            samples = 0
            async for chunk in handle.items(LISTENER_WAIT_S):
                samples += len(chunk.samples)
            arrived[index] = (now(), samples)

        def request(playing: int) -> None:
            out = sum(not task.done() for task in fetches.values())
            for index in range(playing, min(count, playing + READER_LOOKAHEAD + 1)):
                if out >= READER_FETCHES:
                    return
                if index not in fetches:
                    fetches[index] = asyncio.create_task(fetch(index))
                    out += 1

        async def until_a_fetch_ends(timeout: float | None = None) -> None:
            pending = [task for task in fetches.values() if not task.done()]
            if pending:
                await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            elif timeout is not None:
                await asyncio.sleep(timeout)
            for task in fetches.values():
                if task.done():
                    task.result()  # a failed request fails the run

        playback = Playback(OUTPUT_RATE)
        for index in range(count):
            request(index)
            while index not in arrived:
                await until_a_fetch_ends()
                request(index)
            playback.arrived(*arrived[index])
            while (left := playback.runs_out_s - now()) > 0:  # it plays to its end
                await until_a_fetch_ends(left)
                request(index)
        return {
            "sentences": count,
            "lookahead": READER_LOOKAHEAD,
            "concurrent_requests": READER_FETCHES,
            "first_sentence_s": playback.first_s,
            "stall_s": playback.stall_s,
            "audio_s": playback.samples / OUTPUT_RATE,
        }
