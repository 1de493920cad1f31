"""Speaker similarity: the cosine of two resemblyzer d-vectors (its weights ship in the package).

Measured on the shared LibriSpeech clips: the same speaker scores 0.83-0.96, different speakers
0.45-0.72 (scripts/measure_verification.py prints both). Embedding runs torch on the threads
the service configured, one call at a time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import soxr

EMBEDDING_SAMPLE_RATE = 16000
_MIN_SECONDS = 0.3  # resemblyzer's shortest partial utterance is 1.6 s; it pads what is shorter

_lock = threading.Lock()
_encoder = None


def _voice_encoder():
    global _encoder
    if _encoder is None:
        from resemblyzer import VoiceEncoder

        _encoder = VoiceEncoder("cpu", verbose=False)
    return _encoder


def speaker_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A unit-length d-vector of the voice in `audio` (float32 mono); zeros when there is no sound."""
    from resemblyzer import preprocess_wav

    samples = np.asarray(audio, dtype=np.float32)
    if len(samples) == 0 or not np.any(samples):
        return np.zeros(256, dtype=np.float32)
    wav = preprocess_wav(samples, source_sr=sample_rate)  # 16 kHz, long silences cut
    if len(wav) < _MIN_SECONDS * EMBEDDING_SAMPLE_RATE:  # all of it looked like silence to the VAD
        from resemblyzer.audio import normalize_volume

        wav = soxr.resample(samples, sample_rate, EMBEDDING_SAMPLE_RATE)
        wav = normalize_volume(wav, -30, increase_only=True)  # preprocess_wav's level
    with _lock:
        return np.asarray(_voice_encoder().embed_utterance(wav), dtype=np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norms) if norms > 0 else 0.0


def speaker_similarity(a: np.ndarray, a_rate: int, b: np.ndarray, b_rate: int) -> float:
    """How alike the voices in `a` and `b` sound: 1 the same, below about 0.75 different people."""
    return cosine(speaker_embedding(a, a_rate), speaker_embedding(b, b_rate))


_CACHED = 32
_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def cached_embedding(key: str, load: Callable[[], tuple[np.ndarray, int]]) -> np.ndarray:
    """The embedding of the audio `load` returns (samples, rate), kept under `key`: a voice's
    reference is embedded once per conditioning hash (which changes when the reference does)."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    embedding = speaker_embedding(*load())
    with _cache_lock:
        _cache[key] = embedding
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return embedding
