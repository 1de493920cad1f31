"""Real speech from ../shared/data and encoders that make test files at test time.

No audio is committed: every fixture is built here, with PyAV, from the shared
LJ Speech clips.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import av
import numpy as np

DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
LJSPEECH_DIR = DATA_DIR / "speech" / "ljspeech"
LJ_RATE = 22050


def lj_clip(number: int) -> np.ndarray:
    """LJ Speech clip LJ001-<number> as float32 mono at 22,050 Hz."""
    with wave.open(str(LJSPEECH_DIR / f"LJ001-{number:04d}.wav"), "rb") as reader:
        assert reader.getframerate() == LJ_RATE and reader.getnchannels() == 1
        frames = reader.readframes(reader.getnframes())
    return np.frombuffer(frames, dtype=np.int16).astype(np.float32) / 32768.0


def clean_speech(seconds: float = 27.0) -> np.ndarray:
    """Consecutive LJ Speech clips, joined until at least `seconds` long."""
    pieces, total, number = [], 0, 1
    while total < seconds * LJ_RATE:
        pieces.append(lj_clip(number))
        total += len(pieces[-1])
        number += 1
    return np.concatenate(pieces)


def with_noise(audio: np.ndarray, noise_rms: float, seed: int = 0) -> np.ndarray:
    """Add steady broadband noise, like a fan or a busy room."""
    noise = np.random.default_rng(seed).normal(0.0, noise_rms, len(audio)).astype(np.float32)
    return np.clip(audio + noise, -1.0, 1.0)


def wav_bytes(audio: np.ndarray, sample_rate: int = LJ_RATE, channels: int = 1) -> bytes:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    if channels == 2:
        pcm = np.repeat(pcm, 2)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.tobytes())
    return buffer.getvalue()


# name → (container format, codec, encoder rate or None for the input rate, channels, options)
FORMATS: dict[str, tuple[str, str, int | None, int, dict[str, str]]] = {
    "wav_float32_stereo": ("wav", "pcm_f32le", None, 2, {}),
    "mp3": ("mp3", "libmp3lame", None, 1, {}),
    "mp3_stereo": ("mp3", "libmp3lame", 44100, 2, {}),
    "m4a_aac": ("ipod", "aac", 44100, 1, {}),
    "webm_opus_browser": ("webm", "libopus", 48000, 1, {"live": "1"}),  # as MediaRecorder writes it
    "ogg_vorbis": ("ogg", "vorbis", 44100, 2, {}),
    "ogg_opus": ("ogg", "libopus", 48000, 1, {}),
    "flac": ("flac", "flac", None, 1, {}),
    "flac_48k_stereo": ("flac", "flac", 48000, 2, {}),
}


def encode(audio: np.ndarray, name: str, sample_rate: int = LJ_RATE) -> bytes:
    """Encode mono float32 `audio` into the format named in FORMATS."""
    container_format, codec, rate, channels, options = FORMATS[name]
    rate = rate or sample_rate
    layout = "stereo" if channels == 2 else "mono"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format, options=options) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        if codec == "vorbis":  # FFmpeg's own Vorbis encoder is marked experimental
            stream.codec_context.options = {"strict": "experimental"}
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(pcm, channels)[None, :], format="s16", layout=layout
        )
        frame.rate = sample_rate
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=rate)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def png_bytes() -> bytes:
    """A small image: a valid media file with no audio track."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), dtype=np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()
