"""Book rendering: our batched engine path, a batch-size sweep and the KV-cache comparison (i, j)."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Any

from ..config import (
    BATCH_SENTENCES,
    BATCH_SIZES,
    KV_BATCH,
    KV_POSITION,
    KV_STEPS,
    OUTPUT_RATE,
    PARAGRAPH,
)
from ..probes import ParagraphRun, peak_rss_bytes, progress, timed_stream
from ..targets import BOOK_BATCH
from .ours import OursInt8, OursPath


class BatchRendering(OursPath):
    """Book rendering: the paragraph as one batch (XttsEngine.render_batch), then a batch-size sweep."""

    def paragraph(self) -> ParagraphRun:
        self.engine.batch_size = len(PARAGRAPH)
        run = self._render(PARAGRAPH)
        progress(self.sizes.tokens_per_sentence * len(PARAGRAPH))
        return run

    def _render(self, sentences: list[str]) -> ParagraphRun:
        from ownvoice_ai.engines.base import RenderedChunk

        start = time.perf_counter()
        first, samples = timed_stream(
            self.engine.render_batch(sentences, self.voice, self.options),
            start,
            lambda event: len(event.samples) if isinstance(event, RenderedChunk) else 0,
        )
        return ParagraphRun(
            ttfa_s=first or 0.0, total_s=time.perf_counter() - start, audio_s=samples / OUTPUT_RATE
        )

    def decode_ms_per_token(self) -> float:
        return OursPath.decode_ms_per_token(self)

    def batching(self) -> dict[str, Any]:
        sentences = [PARAGRAPH[i % len(PARAGRAPH)] for i in range(BATCH_SENTENCES)]
        sweep = {}
        for size in BATCH_SIZES:
            self.engine.batch_size = size
            run = self._render(sentences)
            progress(self.sizes.tokens_per_sentence * BATCH_SENTENCES)
            sweep[str(size)] = {**asdict(run), "x_real_time": run.audio_s / run.total_s}
        return {
            "sentences": BATCH_SENTENCES,
            "by_batch_size": sweep,
            "peak_rss_bytes": peak_rss_bytes(),
        }

    def kv_cache(self) -> dict[str, Any]:
        """Decode ms per step with HF's DynamicCache (torch.cat per token) and our preallocated one.

        Both start from the same random cache contents at KV_POSITION (a prefill that long would
        take minutes on a CPU; the step's cost does not depend on the values).
        """
        from transformers import DynamicCache

        from ownvoice_ai.engines.kv_cache import PreallocatedCache

        gpt = self.model.gpt
        torch = self.torch
        heads = gpt.gpt.config.n_head
        shape = (KV_BATCH, heads, KV_POSITION, gpt.model_dim // heads)
        weight = next(gpt.gpt.parameters())
        like = {"device": weight.device, "dtype": weight.dtype}
        contents = [
            (torch.randn(shape, **like), torch.randn(shape, **like)) for _ in range(len(gpt.gpt.h))
        ]
        steps = torch.randn(KV_BATCH, KV_STEPS, gpt.model_dim, **like)

        def ms_per_step(cache) -> float:
            with torch.inference_mode():
                for layer, (keys, values) in enumerate(contents):
                    cache.update(keys, values, layer)
                start = time.perf_counter()
                for step in range(KV_STEPS):
                    gpt.gpt(
                        inputs_embeds=steps[:, step : step + 1],
                        past_key_values=cache,
                        use_cache=True,
                    )
                return (time.perf_counter() - start) / KV_STEPS * 1000

        dynamic = min(ms_per_step(DynamicCache()) for _ in range(2))
        preallocated = min(ms_per_step(PreallocatedCache(KV_POSITION + KV_STEPS)) for _ in range(2))
        progress(4 * KV_STEPS)
        return {
            "batch": KV_BATCH,
            "position": KV_POSITION,
            "dynamic_ms_per_step": dynamic,
            "preallocated_ms_per_step": preallocated,
        }

    def extra(self) -> dict[str, Any]:
        return {**super().extra(), "batching": self.batching(), "kv_cache": self.kv_cache()}


PLACEMENT_SENTENCES = 16


def mixed_sentences() -> list[str]:
    """Sixteen sentences of 3 to 16 words (20 to 80 characters), from the paragraph's words
    (`--quick` takes the first three)."""
    words = " ".join(PARAGRAPH).lower().replace(",", "").replace(".", "").split()
    return [" ".join(words[: 3 + (i * 5) % 14]) + "." for i in range(PLACEMENT_SENTENCES)]


class OursFastBatch(BatchRendering, OursInt8):
    """(j): the fast CPU path's book rendering as the service runs it: int8 GPT (plus the bf16
    vocoder where the CPU has native bf16), the vocoder on a second thread beside the GPT's next
    steps, both on every core. Where the vocoder runs is measured (`vocoder_placement`)."""

    def convert(self) -> None:
        from ownvoice_ai.optimize import cpu_supports_bf16, half_precision_vocoder

        super().convert()
        if cpu_supports_bf16():
            half_precision_vocoder(self.model, self.torch.bfloat16)
        self.engine.tuning = replace(self.engine.tuning, overlap_vocoder=True)

    def extra(self) -> dict[str, Any]:
        return {**super().extra(), "vocoder_placement": self.vocoder_placement()}

    def vocoder_placement(self) -> dict[str, Any]:
        """Book rendering of `mixed_sentences()` at batch BOOK_BATCH three ways (issue 16, item
        3): the vocoder in line after each GPT step, every core; on a second thread beside the
        GPT's next steps (optimize.SideDecoder) with half the cores each (as the fast path
        streams); beside, with every core on each side (the service's choice, and the sweep
        above). In line and beside on every core must give the same samples: their largest
        difference is reported."""
        import numpy as np

        from ownvoice_ai.engines.base import RenderedChunk
        from ownvoice_ai.optimize import available_cores, overlap_threads

        sentences = mixed_sentences()[: self.sizes.placement_sentences]
        self.engine.batch_size = BOOK_BATCH
        all_cores, tuning = self.torch.get_num_threads(), self.engine.tuning
        # each sentence as long as it would be spoken: rows end at different steps and are
        # refilled, as in a book (with equal lengths every row ends at once: nothing overlaps)
        spoken = replace(tuning, fixed_tokens=None, speaking_rate_tokens=True)
        runs: dict[str, Any] = {}
        audio: dict[str, dict[int, Any]] = {}

        def run(name: str, threads: int, beside: bool) -> None:
            self.engine.batch_threads = threads
            self.engine.tuning = replace(spoken, overlap_vocoder=beside)
            start, chunks = time.perf_counter(), {}
            for event in self.engine.render_batch(sentences, self.voice, self.options):
                if isinstance(event, RenderedChunk):
                    chunks[event.index] = event.samples
            total = time.perf_counter() - start
            seconds = sum(len(samples) for samples in chunks.values()) / OUTPUT_RATE
            runs[name] = {"threads": threads, "total_s": total, "x_real_time": seconds / total}
            audio[name] = chunks
            progress(self.sizes.tokens_per_sentence * BATCH_SENTENCES)

        try:
            run("inline_all_cores", all_cores, beside=False)
            run("beside_half_cores", overlap_threads(self.spec.threads or available_cores()), True)
            run("beside_all_cores", all_cores, beside=True)
        finally:
            self.engine.batch_threads = None
            self.engine.tuning = tuning
        inline, beside = audio["inline_all_cores"], audio["beside_all_cores"]
        return {
            "batch": BOOK_BATCH,
            "sentences": len(sentences),
            "characters": [len(sentence) for sentence in sentences],
            "runs": runs,
            "max_abs_diff_beside_vs_inline": max(
                float(np.abs(beside[i] - inline[i]).max()) for i in inline
            ),
        }
