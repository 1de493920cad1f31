"""The reference recording the voice is conditioned on, read and written as 16-bit PCM WAV."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

from .config import REPO_ROOT

REFERENCE_CLIP = REPO_ROOT / ".." / "shared" / "data" / "speech" / "ljspeech" / "LJ001-0001.wav"


def read_reference(path: str) -> tuple[Any, int]:
    import numpy as np

    with wave.open(path, "rb") as source:
        rate = source.getframerate()
        pcm = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0, rate


def reference_wav(workdir: Path) -> tuple[Path, str]:
    """A speech clip for the voice (LJ Speech when the shared test data is here, else a stand-in).

    Written as 16-bit PCM WAV at 22.05 kHz; random weights make the content irrelevant to speed.
    """
    import numpy as np

    out = workdir / "reference.wav"
    clip = REFERENCE_CLIP.resolve()
    if clip.is_file():
        samples, rate = read_reference(str(clip))
        write_wav(out, samples.tolist(), rate)
        return out, f"LJ Speech {clip.name}"
    rng = np.random.default_rng(0)
    t = np.arange(22050 * 6) / 22050
    voiced = 0.3 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    write_wav(out, (voiced + 0.01 * rng.standard_normal(t.size)).tolist(), 22050)
    return out, "synthetic 6 s tone (shared test data not found)"


def write_wav(path: Path, samples: list[float], rate: int) -> None:
    import numpy as np

    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
