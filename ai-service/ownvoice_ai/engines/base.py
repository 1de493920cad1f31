"""The engine interface every speech engine (XTTS, Piper, test engines) implements.

An engine is loaded once in the app's lifespan, then streams float32 mono audio
chunks for a chunk of text. Engines are synchronous and run on the device
worker thread, never on the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class StopSignal:
    """Tells an engine to stop: the client went away, or the generation is stuck.

    Engines check `reason()` between decoding steps (XTTS: every audio token) and stop when it
    returns a string; the worker also checks it between chunks for engines that do not. The
    deadline is a stall limit: the worker restarts the clock whenever audio comes out.
    """

    def __init__(
        self, timeout_s: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stopped = threading.Event()
        self._why = "cancelled"
        self._clock = clock  # tests pass their own
        self._deadline = None if timeout_s is None else clock() + timeout_s

    def cancel(self, reason: str = "cancelled") -> None:
        if not self._stopped.is_set():
            self._why = reason
            self._stopped.set()

    def start_clock(self, timeout_s: float) -> None:
        """(Re)start the deadline: when a queued request begins running, and on every chunk."""
        self._deadline = self._clock() + timeout_s

    def reason(self) -> str | None:
        if self._stopped.is_set():
            return self._why
        if self._deadline is not None and self._clock() > self._deadline:
            return "timeout"
        return None


class GenerationStopped(Exception):
    """A job stopped by its StopSignal: raised by an engine between steps, or by the worker."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SynthesisOptions:
    """How to speak: the one options type of a synthesis, streamed or batched, with its defaults.

    Requests leave out what they want by default (synthesis.options fills it in from here); the
    engines read language, speed, sampling, seed and stop; `format` is for the encoder.
    """

    language: str = "en"
    speed: float = 1.0
    temperature: float = 0.75
    top_p: float = 0.85
    top_k: int = 50
    repetition_penalty: float = 5.0
    seed: int | None = None
    format: str = "wav"  # one of encode.FORMATS
    stop: StopSignal | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AudioChunk:
    """A piece of synthesized audio: float32 mono samples in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int
    is_last: bool = False


# A stream yields this (no audio) to end its turn on the device worker without an item for the
# client; the worker does not deliver it (worker.py). Other consumers see an empty chunk.
END_OF_TURN = AudioChunk(np.zeros(0, dtype=np.float32), 24000)


@dataclass(frozen=True)
class RenderedChunk:
    """One text chunk of a batch, finished: `index` is its position in the chunks asked for."""

    index: int
    samples: np.ndarray
    sample_rate: int


@dataclass(frozen=True)
class BatchProgress:
    """Audio tokens generated so far in a batch (summed over its sequences): a heartbeat."""

    tokens: int


@dataclass
class EngineStatus:
    available: bool
    model_id: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    reason: str | None = None
    extra: dict = field(default_factory=dict)


class Engine(Protocol):
    name: str
    sample_rate: int

    def load(self) -> EngineStatus: ...

    def status(self) -> EngineStatus: ...

    def stream(
        self, text: str, voice: object, options: SynthesisOptions
    ) -> Iterator[AudioChunk]: ...
