"""Decode uploaded audio of any common format into float32 mono samples.

PyAV (which bundles FFmpeg) reads wav, mp3, m4a/aac, webm/opus, ogg/vorbis and
flac alike. FFmpeg is never left to guess the format: its probe would also pick
demuxers that open other files or URLs named inside the upload (HLS playlists,
ffconcat scripts, SDP), so the container is recognised here by its magic bytes
and opened with that one demuxer, from an explicit list of audio containers.
The resampler converts the rate frame by frame, and the channels are
averaged to mono as each frame arrives, so a long upload is refused as soon as it passes the limit instead of
after it has been decoded whole.
"""

from __future__ import annotations

import io

import av
import numpy as np

MAX_AUDIO_SECONDS = 600.0  # 10 minutes: more than any reference recording needs

# A file whose container promises much more audio than it holds was cut off in
# transit. The margin is wide because VBR mp3s without a Xing header only have
# a duration estimated from their first frame's bitrate.
_TRUNCATION_MIN_RATIO = 0.75
_TRUNCATION_MIN_GAP_SECONDS = 1.0

_TRY_AGAIN = (
    "Upload a recording in a common audio format "
    "(wav, mp3, m4a, webm, ogg or flac), or record again in the browser."
)


class AudioDecodeError(ValueError):
    """The bytes are not readable audio. The message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AudioTooLong(AudioDecodeError):
    """The audio is longer than MAX_AUDIO_SECONDS."""


# The only FFmpeg demuxers an upload is ever opened with.
ALLOWED_DEMUXERS = frozenset({"wav", "mp3", "mov", "matroska", "ogg", "flac"})
# What text formats that make FFmpeg open other files or URLs start with.
_PLAYLIST_MARKERS = (b"#EXTM3U", b"ffconcat", b"[playlist]", b"<?xml", b"v=0", b"file ")


def sniff_demuxer(head: bytes) -> str | None:
    """The FFmpeg demuxer for the audio container that `head` (the first bytes) starts, or None."""
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
        if version != 0b01 and layer != 0b00:  # reserved values (layer 0 is AAC's ADTS)
            return "mp3"
    if head[4:8] == b"ftyp":
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    return None


def _open(data: bytes) -> av.container.InputContainer:
    demuxer = sniff_demuxer(data[:16])
    if demuxer is None:
        stripped = data.lstrip()[:16].lower()
        if any(stripped.startswith(marker.lower()) for marker in _PLAYLIST_MARKERS):
            raise AudioDecodeError(
                "This is a playlist or script that names other files, not a recording. "
                + _TRY_AGAIN
            )
        raise AudioDecodeError("The file is not in an audio format we accept. " + _TRY_AGAIN)
    try:
        container = av.open(io.BytesIO(data), mode="r", format=demuxer)
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as error:
        raise AudioDecodeError(
            f"The file could not be read as audio ({_short_reason(error)}). " + _TRY_AGAIN
        ) from error
    if container.format.name not in ALLOWED_DEMUXERS:  # belt and braces, before any packet
        container.close()
        raise AudioDecodeError("The file is not in an audio format we accept. " + _TRY_AGAIN)
    return container


def decode_audio(
    data: bytes, sample_rate: int, max_seconds: float = MAX_AUDIO_SECONDS
) -> np.ndarray:
    """Decode `data` to float32 mono samples in [-1, 1] at `sample_rate`.

    Raises AudioDecodeError for anything that is not readable audio and
    AudioTooLong for more than `max_seconds` of audio.
    """
    if not data:
        raise AudioDecodeError("The file is empty. " + _TRY_AGAIN)
    container = _open(data)
    with container:
        stream = _first_audio_stream(container)
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds:
            raise _too_long(declared, max_seconds)
        samples = _decode_stream(container, stream, sample_rate, max_seconds)
    decoded_seconds = len(samples) / sample_rate
    if len(samples) == 0:
        raise AudioDecodeError("The file contains no audio samples. " + _TRY_AGAIN)
    if declared is not None and _looks_truncated(decoded_seconds, declared):
        raise AudioDecodeError(
            f"The file seems cut off: it announces {declared:.1f} s of audio but holds "
            f"only {decoded_seconds:.1f} s. Upload the complete file again."
        )
    return samples


def _first_audio_stream(container: av.container.InputContainer) -> av.AudioStream:
    if not container.streams.audio:
        raise AudioDecodeError("The file has no audio track. " + _TRY_AGAIN)
    return container.streams.audio[0]


def _declared_seconds(
    container: av.container.InputContainer, stream: av.AudioStream
) -> float | None:
    """The duration the file announces, if any (browser webm recordings have none)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    sample_rate: int,
    max_seconds: float,
) -> np.ndarray:
    # Channels are kept through resampling and averaged afterwards: FFmpeg's own mono
    # downmix adds 3 dB, which clips a loud recording whose channels are identical.
    resampler = av.AudioResampler(format="fltp", rate=sample_rate)
    max_samples = int(max_seconds * sample_rate)
    pieces: list[np.ndarray] = []
    total = 0
    try:
        for frame in container.decode(stream):
            frame.pts = None  # let the resampler count time itself; bad pts must not matter
            for out in resampler.resample(frame):
                total += _append(pieces, out)
            if total > max_samples:
                raise _too_long(total / sample_rate, max_seconds)
        for out in resampler.resample(None):
            total += _append(pieces, out)
    except AudioDecodeError:
        raise
    except (av.error.FFmpegError, ValueError) as error:
        raise AudioDecodeError(
            f"The audio is damaged and could not be decoded ({_short_reason(error)}). " + _TRY_AGAIN
        ) from error
    if total > max_samples:
        raise _too_long(total / sample_rate, max_seconds)
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    samples = np.concatenate(pieces)
    # NaN/inf can only come from a broken float file; silence them rather than poison every later step.
    samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def _append(pieces: list[np.ndarray], frame: av.AudioFrame) -> int:
    mono = frame.to_ndarray().mean(axis=0, dtype=np.float32)  # planar: (channels, samples)
    pieces.append(mono)
    return len(mono)


def _looks_truncated(decoded_seconds: float, declared_seconds: float) -> bool:
    gap = declared_seconds - decoded_seconds
    return (
        gap > _TRUNCATION_MIN_GAP_SECONDS
        and decoded_seconds < _TRUNCATION_MIN_RATIO * declared_seconds
    )


def _too_long(seconds: float, max_seconds: float) -> AudioTooLong:
    return AudioTooLong(
        f"The recording is longer than {max_seconds / 60:.0f} minutes "
        f"(at least {seconds / 60:.1f} min). Upload a shorter clip: "
        "30 seconds to 2 minutes of clear speech is ideal."
    )


def _short_reason(error: Exception) -> str:
    reason = getattr(error, "strerror", None) or str(error)
    return reason.strip().rstrip(".")[:120] or type(error).__name__
