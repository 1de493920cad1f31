"""Job generators for the device worker: one per engine, streamed (one text) or batched (many).

A job yields a `Meta` first (the stream header: model and conditioning), then audio: `AudioChunk`s
for a stream; for a batch, `TextAudio` per finished text, with `BatchProgress`/`Heartbeat` in
between so that the worker's stall clock restarts and a listener can slip in. The texts arrive
already split (and tokenized for XTTS): jobs only speak.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conditioning import Conditioning
from ..engines.base import BatchProgress, RenderedChunk, SynthesisOptions
from ..engines.xtts import TokenizedChunk
from ..services import Services
from .audio import OUTPUT_SAMPLE_RATE, at_output_rate, at_output_rate_stream, joined

Job = Callable[[], Iterator[Any]]


@dataclass(frozen=True)
class Meta:
    conditioning_hash: str
    model_id: str

    @classmethod
    def of(cls, conditioning: Conditioning) -> Meta:
        return cls(conditioning.conditioning_hash, conditioning.model_id)


@dataclass(frozen=True)
class TextAudio:
    """The whole audio of texts[index], at OUTPUT_SAMPLE_RATE."""

    index: int
    samples: np.ndarray


@dataclass(frozen=True)
class Heartbeat:
    """A chunk or sentence is done, no text yet: restarts the worker's stall clock, never sent."""


# --- XTTS (cloned voices) ---------------------------------------------------------------------


def xtts_stream_job(
    services: Services, voice_id: str, chunks: list[TokenizedChunk], options: SynthesisOptions
) -> Job:
    engine = services.xtts

    def produce() -> Iterator[Any]:
        conditioning = services.store.get(voice_id, engine.compute_conditioning)
        yield Meta.of(conditioning)
        for chunk in chunks:
            yield from engine.stream(chunk, conditioning, options)

    return produce


def xtts_batch_job(
    services: Services,
    voice_id: str,
    per_text: list[list[TokenizedChunk]],
    options: SynthesisOptions,
) -> Job:
    """All chunks of all texts through `render_batch` together; a text leaves when its last chunk does."""
    engine = services.xtts

    def produce() -> Iterator[Any]:
        conditioning = services.store.get(voice_id, engine.compute_conditioning)
        yield Meta.of(conditioning)
        assembly = TextAssembly([len(chunks) for chunks in per_text])
        flat = [chunk for chunks in per_text for chunk in chunks]
        for event in engine.render_batch(flat, conditioning, options):
            if isinstance(event, BatchProgress):
                yield event
            else:  # a chunk that finishes no text yet is still progress for the stall clock
                yield assembly.add(event) or Heartbeat()
        assembly.check_complete()

    return produce


class TextAssembly:
    """Collects a batch's finished chunks (in any order) back into whole texts.

    Chunks are numbered across the batch: texts[0]'s chunks first, then texts[1]'s, and so on.
    """

    def __init__(self, chunk_counts: list[int]) -> None:
        self._owner = [text for text, count in enumerate(chunk_counts) for _ in range(count)]
        self._first = [sum(chunk_counts[:text]) for text in range(len(chunk_counts))]
        self._counts = chunk_counts
        self._done: dict[int, np.ndarray] = {}
        self._finished = 0

    def add(self, chunk: RenderedChunk) -> TextAudio | None:
        """The whole text once this was its last missing chunk, else None."""
        if not 0 <= chunk.index < len(self._owner) or chunk.index in self._done:
            raise RuntimeError(f"the engine returned chunk {chunk.index} unexpectedly")
        self._done[chunk.index] = at_output_rate(chunk.samples, chunk.sample_rate)
        text = self._owner[chunk.index]
        indices = range(self._first[text], self._first[text] + self._counts[text])
        if any(index not in self._done for index in indices):
            return None
        self._finished += 1
        return TextAudio(text, joined([self._done.pop(index) for index in indices]))

    def check_complete(self) -> None:
        if self._finished < len(self._counts):
            missing = len(self._counts) - self._finished
            raise RuntimeError(f"the engine stopped with {missing} text(s) unfinished")


# --- Piper (stock voices) ---------------------------------------------------------------------


def stock_meta(services: Services, voice_id: str) -> Meta:
    model_id = services.piper_status.model_id or "piper"
    return Meta(f"{model_id}:{voice_id}", model_id)


def stock_audio(
    services: Services, voice_id: str, chunks: list[str], options: SynthesisOptions
) -> Iterator[Any]:
    """Piper's audio for one text's chunks, at the output rate (Piper puts pauses between them)."""
    engine = services.piper
    assert engine is not None  # a stock voice is only resolved while Piper is loaded
    return at_output_rate_stream(
        engine.stream_chunks(chunks, voice_id, options), engine.sample_rate
    )


def stock_stream_job(
    services: Services, voice_id: str, chunks: list[str], options: SynthesisOptions
) -> Job:
    meta = stock_meta(services, voice_id)

    def produce() -> Iterator[Any]:
        yield meta
        yield from stock_audio(services, voice_id, chunks, options)

    return produce


def stock_batch_job(
    services: Services, voice_id: str, per_text: list[list[str]], options: SynthesisOptions
) -> Job:
    """Stock voices render one text after another."""
    meta = stock_meta(services, voice_id)

    def produce() -> Iterator[Any]:
        yield meta
        for index, chunks in enumerate(per_text):
            pieces = []
            for audio in stock_audio(services, voice_id, chunks, options):
                pieces.append(audio.samples)
                yield Heartbeat()
            yield TextAudio(index, joined(pieces))

    return produce


__all__ = ["OUTPUT_SAMPLE_RATE", "Heartbeat", "Job", "Meta", "TextAssembly", "TextAudio"]
