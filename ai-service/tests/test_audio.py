"""Decoding uploads: every common format, and clear errors for everything else."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ownvoice_ai.audio import AudioDecodeError, AudioTooLong, decode_audio
from tests.speech_fixtures import FORMATS, LJ_RATE, encode, lj_clip, png_bytes, wav_bytes


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return lj_clip(1)  # 9.66 s


def _rms_db(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2))))


def test_wav_decodes_exactly(speech: np.ndarray) -> None:
    decoded = decode_audio(wav_bytes(speech), LJ_RATE)
    assert decoded.dtype == np.float32
    assert len(decoded) == len(speech)
    assert np.max(np.abs(decoded - speech)) < 1e-4


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("target_rate", [16000, 24000])
def test_every_common_format_decodes(speech: np.ndarray, name: str, target_rate: int) -> None:
    decoded = decode_audio(encode(speech, name), target_rate)
    expected_seconds = len(speech) / LJ_RATE
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    # Lossy codecs add a few ms of priming and padding, never more than ~0.1 s.
    assert abs(len(decoded) / target_rate - expected_seconds) < 0.12, name
    assert float(np.max(np.abs(decoded))) <= 1.0
    # The speech survives at its level (stereo is downmixed, not summed into clipping).
    assert abs(_rms_db(decoded) - _rms_db(speech)) < 1.5, name


def _stereo_wav(left: np.ndarray, right: np.ndarray) -> bytes:
    import io
    import wave

    interleaved = np.stack([left, right], axis=1).reshape(-1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(LJ_RATE)
        writer.writeframes((interleaved * 32767).astype(np.int16).tobytes())
    return buffer.getvalue()


def test_stereo_is_averaged_to_mono() -> None:
    tone = np.sin(np.linspace(0, 440 * 2 * np.pi, LJ_RATE)).astype(np.float32) * 0.5
    mono = decode_audio(_stereo_wav(tone, np.zeros_like(tone)), LJ_RATE)
    assert len(mono) == LJ_RATE
    assert abs(float(np.max(np.abs(mono))) - 0.25) < 0.01  # (L + R) / 2


def test_loud_identical_channels_do_not_clip() -> None:
    tone = np.sin(np.linspace(0, 440 * 2 * np.pi, LJ_RATE)).astype(np.float32) * 0.95
    mono = decode_audio(_stereo_wav(tone, tone), LJ_RATE)
    assert abs(float(np.max(np.abs(mono))) - 0.95) < 0.01
    assert float(np.mean(np.abs(mono) >= 0.99)) == 0.0


def test_resamples_to_the_requested_rate(speech: np.ndarray) -> None:
    decoded = decode_audio(encode(speech, "flac_48k_stereo"), 22050)
    assert abs(len(decoded) - len(speech)) <= 2


@pytest.mark.parametrize(
    "data",
    [
        b"This is a text file that somebody renamed to voice.wav\n" * 20,
        b"",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",  # a WAV header and nothing else
        bytes(range(256)) * 64,  # random-looking binary
    ],
    ids=["text-renamed-wav", "empty", "bare-wav-header", "binary-junk"],
)
def test_unreadable_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(AudioDecodeError) as caught:
        decode_audio(data, 24000)
    assert "Upload" in caught.value.message or "upload" in caught.value.message


@pytest.mark.parametrize("name", ["mp3", "m4a_aac", "flac", "ogg_opus"])
def test_truncated_files_are_refused(speech: np.ndarray, name: str) -> None:
    data = encode(speech, name)
    with pytest.raises(AudioDecodeError):
        decode_audio(data[: len(data) // 10], 24000)


def test_a_file_without_audio_is_refused() -> None:
    with pytest.raises(AudioDecodeError, match="not in an audio format we accept"):
        decode_audio(png_bytes(), 24000)


def test_an_audio_container_without_an_audio_track_is_refused() -> None:
    with pytest.raises(AudioDecodeError, match="no audio track"):
        decode_audio(_video_only_matroska(), 24000)


def _video_only_matroska() -> bytes:
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=1)
        stream.width = stream.height = 8
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((8, 8, 3), dtype=np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def file_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server with the LJ Speech clips; records every path asked for."""
    import functools
    import http.server
    import threading

    from tests.speech_fixtures import LJSPEECH_DIR as LJ_DIR

    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(LJ_DIR))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requested
    server.shutdown()


def _references(base_url: str) -> dict[str, bytes]:
    from tests.speech_fixtures import LJSPEECH_DIR as LJ_DIR

    local = LJ_DIR / "LJ001-0001.wav"
    remote = f"{base_url}/LJ001-0001.wav"
    hls = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:9.7,\n{}\n#EXT-X-ENDLIST\n"
    return {
        "hls-local": hls.format(local).encode(),
        "hls-url": hls.format(remote).encode(),
        "ffconcat-local": f"ffconcat version 1.0\nfile '{local}'\n".encode(),
        "ffconcat-url": f"ffconcat version 1.0\nfile '{remote}'\n".encode(),
        "sdp": b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\n"
        b"m=audio 5004 RTP/AVP 0\n",
    }


@pytest.mark.parametrize("name", ["hls-local", "hls-url", "ffconcat-local", "ffconcat-url", "sdp"])
def test_playlists_and_scripts_are_refused_before_ffmpeg_reads_them(
    file_server: tuple[str, list[str]], name: str
) -> None:
    base_url, requested = file_server
    with pytest.raises(AudioDecodeError, match="playlist or script"):
        decode_audio(_references(base_url)[name], 24000)
    assert requested == []


def test_a_playlist_reference_is_a_415_voice_rejection(file_server: tuple[str, list[str]]) -> None:
    from ownvoice_ai.prepare import VoiceRejected, prepare_reference

    with pytest.raises(VoiceRejected) as caught:
        prepare_reference(_references(file_server[0])["hls-local"])
    assert caught.value.status_code == 415 and "playlist" in caught.value.message


@pytest.mark.parametrize(
    "container,codec", [("au", "pcm_s16be"), ("aiff", "pcm_s16be"), ("mpegts", "mp2")]
)
def test_containers_outside_the_allowed_list_are_not_opened(
    speech: np.ndarray, container: str, codec: str
) -> None:
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=LJ_RATE, layout="mono")
        pcm = (speech[:LJ_RATE] * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.rate = LJ_RATE
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=LJ_RATE)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(AudioDecodeError, match="not in an audio format we accept"):
        decode_audio(buffer.getvalue(), 24000)


def test_over_ten_minutes_is_refused_from_the_header() -> None:
    eleven_minutes = np.zeros(11 * 60 * 8000, dtype=np.float32)
    with pytest.raises(AudioTooLong, match="10 minutes"):
        decode_audio(wav_bytes(eleven_minutes, 8000), 24000)


def test_over_the_limit_is_refused_while_decoding_when_no_duration_is_declared(
    speech: np.ndarray,
) -> None:
    # Browser webm recordings announce no duration; decoding stops at the limit.
    data = encode(speech, "webm_opus_browser")
    with pytest.raises(AudioTooLong):
        decode_audio(data, 16000, max_seconds=5.0)
    assert len(decode_audio(data, 16000, max_seconds=12.0)) > 9 * 16000
