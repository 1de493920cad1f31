"""Job generators for the device worker: one per engine, streamed (one text) or batched (many).

A job yields a `Meta` first (the stream header: model and conditioning), then audio: `AudioChunk`s
for a stream; for a batch, `TextAudio` per finished text, with `BatchProgress`/`Heartbeat` in
between so that the worker's stall clock restarts and a listener can slip in. The texts arrive
already split (and tokenized for XTTS): jobs only speak.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conditioning import Conditioning, read_wav
from ..engines.base import BatchProgress, RenderedChunk, SynthesisOptions
from ..engines.xtts import TokenizedChunk, XttsEngine
from ..services import Services
from ..verify.check import TimedWord
from ..verify.takes import TakeReport
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
    """The whole audio of texts[index], at OUTPUT_SAMPLE_RATE; with verification on, what it
    found and the text's words timed in `samples`."""

    index: int
    samples: np.ndarray
    verification: TakeReport | None = None
    words: list[TimedWord] | None = None


# Renders texts[i] for the i given, with the options given: TextAudio (index into all the texts)
# as each is done, progress events between. A batch job hands its Render to its `Takes`.
Render = Callable[[list[int], SynthesisOptions], Iterator[Any]]
# The voice's speaker embedding, computed when first asked for (None: nothing to compare with).
Reference = Callable[[], "np.ndarray | None"]
# How a batch job takes its texts: once (`one_take`), or best of N (synthesis.verified).
Takes = Callable[[Render, SynthesisOptions, Reference], Iterator[Any]]


def one_take(count: int) -> Takes:
    """Every text rendered once, as asked: no verification."""

    def takes(render: Render, options: SynthesisOptions, reference: Reference) -> Iterator[Any]:
        return render(list(range(count)), options)

    return takes


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
        yield from engine.stream_chunks(chunks, conditioning, options)

    return produce


def xtts_batch_job(
    services: Services,
    voice_id: str,
    per_text: list[list[TokenizedChunk]],
    options: SynthesisOptions,
    takes: Takes,
) -> Job:
    """All chunks of the texts through `render_batch` together; a text leaves when its last chunk does."""
    engine = services.xtts

    def produce() -> Iterator[Any]:
        conditioning = services.store.get(voice_id, engine.compute_conditioning)
        yield Meta.of(conditioning)

        def render(indices: list[int], take_options: SynthesisOptions) -> Iterator[Any]:
            return xtts_render(engine, conditioning, per_text, indices, take_options)

        def reference() -> np.ndarray:
            from ..verify.speaker import cached_embedding

            path = services.store.reference_path(voice_id)
            return cached_embedding(
                conditioning.conditioning_hash, lambda: read_wav(path.read_bytes())
            )

        yield from takes(render, options, reference)

    return produce


def xtts_render(
    engine: XttsEngine,
    conditioning: Conditioning,
    per_text: list[list[TokenizedChunk]],
    indices: list[int],
    options: SynthesisOptions,
) -> Iterator[Any]:
    """texts[i] for i in `indices` through `render_batch` together."""
    assembly = TextAssembly([len(per_text[index]) for index in indices])
    flat = [chunk for index in indices for chunk in per_text[index]]
    for event in engine.render_batch(flat, conditioning, options):
        if isinstance(event, BatchProgress):
            yield event
        elif (done := assembly.add(event)) is not None:
            yield dataclasses.replace(done, index=indices[done.index])
        else:  # a chunk that finishes no text yet is still progress for the stall clock
            yield Heartbeat()
    assembly.check_complete()


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
    services: Services,
    voice_id: str,
    per_text: list[list[str]],
    options: SynthesisOptions,
    takes: Takes,
) -> Job:
    """Stock voices render one text after another."""
    meta = stock_meta(services, voice_id)

    def produce() -> Iterator[Any]:
        yield meta

        def render(indices: list[int], take_options: SynthesisOptions) -> Iterator[Any]:
            for index in indices:
                pieces = []
                for audio in stock_audio(services, voice_id, per_text[index], take_options):
                    pieces.append(audio.samples)
                    yield Heartbeat()
                yield TextAudio(index, joined(pieces))

        yield from takes(render, options, lambda: None)  # a stock voice has no reference

    return produce


__all__ = [
    "OUTPUT_SAMPLE_RATE",
    "Heartbeat",
    "Job",
    "Meta",
    "Render",
    "Takes",
    "TextAssembly",
    "TextAudio",
    "one_take",
]
