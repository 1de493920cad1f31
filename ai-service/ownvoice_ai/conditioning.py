"""Speaker conditioning: computed once per voice, cached on disk and in memory.

A voice is its cleaned reference `DATA_DIR/voices/{voice_id}.wav`. Its XTTS conditioning (GPT
latents + speaker embedding) is stored in `DATA_DIR/cache/conditioning/{voice_id}.safetensors`
with the reference's SHA-256 and the model id as metadata. Generation only ever reads it; it is
recomputed by itself (once) when the reference or the model changes.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

VOICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class Conditioning:
    gpt_cond_latent: torch.Tensor  # [1, 32, d_model]
    speaker_embedding: torch.Tensor  # [1, 512, 1]
    audio_sha256: str
    model_id: str

    @property
    def conditioning_hash(self) -> str:
        """Changes whenever the audio or the model does: part of the app server's cache key."""
        return hashlib.sha256(f"{self.model_id}\n{self.audio_sha256}".encode()).hexdigest()[:32]


ComputeFn = Callable[[np.ndarray, int], tuple[torch.Tensor, torch.Tensor]]


def valid_voice_id(voice_id: str) -> bool:
    return bool(VOICE_ID_PATTERN.fullmatch(voice_id))


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM mono WAV."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data), "rb") as source:
        if source.getsampwidth() != 2:
            raise ValueError("voice references are 16-bit PCM WAV")
        frames = source.readframes(source.getnframes())
        channels = source.getnchannels()
        rate = source.getframerate()
    audio = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32767.0
    if channels > 1:
        audio = audio.reshape(-1, channels).mean(axis=1)
    return audio, rate


def _fsync_path(path: Path | str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(temp: Path | str, path: Path) -> None:
    """fsync the finished temp file, rename it over `path`, fsync the directory (the rename)."""
    _fsync_path(temp)
    os.replace(temp, path)
    _fsync_path(path.parent, os.O_RDONLY | os.O_DIRECTORY)


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        _publish(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class ConditioningStore:
    """Reference files and their cached conditioning, for one model."""

    def __init__(self, voices_dir: Path, cache_dir: Path, model_id: str | None) -> None:
        self.voices_dir = voices_dir
        self.cache_dir = cache_dir
        self.model_id = model_id
        self._memory: dict[str, tuple[tuple[int, int], Conditioning]] = {}
        self._lock = threading.Lock()

    def reference_path(self, voice_id: str) -> Path:
        return self.voices_dir / f"{voice_id}.wav"

    def cache_path(self, voice_id: str) -> Path:
        return self.cache_dir / f"{voice_id}.safetensors"

    def exists(self, voice_id: str) -> bool:
        return self.reference_path(voice_id).is_file()

    def save_voice(
        self, voice_id: str, audio: np.ndarray, sample_rate: int, compute: ComputeFn
    ) -> Conditioning:
        """Compute conditioning for a new reference, then store both (the old voice stays until then)."""
        data = wav_bytes(audio, sample_rate)
        conditioning = self._compute(data, compute)
        self._write_cache(voice_id, conditioning)
        atomic_write(self.reference_path(voice_id), data)
        self._remember(voice_id, conditioning)
        return conditioning

    def get(self, voice_id: str, compute: ComputeFn) -> Conditioning:
        """The voice's conditioning: memory, else disk cache if still valid, else computed once."""
        path = self.reference_path(voice_id)
        stat = path.stat()  # FileNotFoundError: unknown voice
        signature = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            remembered = self._memory.get(voice_id)
        if remembered and remembered[0] == signature and remembered[1].model_id == self.model_id:
            return remembered[1]
        data = path.read_bytes()
        audio_sha = hashlib.sha256(data).hexdigest()
        conditioning = self._read_cache(voice_id, audio_sha)
        if conditioning is None:
            conditioning = self._compute(data, compute)
            self._write_cache(voice_id, conditioning)
        with self._lock:
            self._memory[voice_id] = (signature, conditioning)
        return conditioning

    def delete(self, voice_id: str) -> None:
        with self._lock:
            self._memory.pop(voice_id, None)
        self.reference_path(voice_id).unlink(missing_ok=True)
        self.cache_path(voice_id).unlink(missing_ok=True)

    def _remember(self, voice_id: str, conditioning: Conditioning) -> None:
        stat = self.reference_path(voice_id).stat()
        with self._lock:
            self._memory[voice_id] = ((stat.st_mtime_ns, stat.st_size), conditioning)

    def _compute(self, wav_data: bytes, compute: ComputeFn) -> Conditioning:
        if self.model_id is None:
            raise RuntimeError("no XTTS model is loaded")
        # Imported here: the engine (and the GPU bench) loads this module without the audio stack.
        from ownvoice_ai.prepare import MAX_REFERENCE_SECONDS

        audio, rate = read_wav(wav_data)
        # A reference stored before references were bounded may be minutes long: condition on
        # its first MAX_REFERENCE_SECONDS only, so time and memory stay bounded.
        latent, embedding = compute(audio[: int(MAX_REFERENCE_SECONDS * rate)], rate)
        return Conditioning(
            latent.detach().float().cpu().contiguous(),
            embedding.detach().float().cpu().contiguous(),
            hashlib.sha256(wav_data).hexdigest(),
            self.model_id,
        )

    def _write_cache(self, voice_id: str, conditioning: Conditioning) -> None:
        path = self.cache_path(voice_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            save_file(
                {
                    "gpt_cond_latent": conditioning.gpt_cond_latent,
                    "speaker_embedding": conditioning.speaker_embedding,
                },
                temp,
                metadata={
                    "voice_id": voice_id,
                    "audio_sha256": conditioning.audio_sha256,
                    "model_id": conditioning.model_id,
                    "format_version": FORMAT_VERSION,
                },
            )
            _publish(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _read_cache(self, voice_id: str, audio_sha: str) -> Conditioning | None:
        path = self.cache_path(voice_id)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                if meta.get("model_id") != self.model_id or meta.get("audio_sha256") != audio_sha:
                    return None
                if meta.get("format_version") != FORMAT_VERSION:
                    return None
                return Conditioning(
                    handle.get_tensor("gpt_cond_latent"),
                    handle.get_tensor("speaker_embedding"),
                    audio_sha,
                    self.model_id or "",
                )
        except Exception:  # noqa: BLE001 - a damaged cache file is recomputed, never fatal
            return None
