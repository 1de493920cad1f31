"""Reference preparation on real speech: cleaning, the report and the rejections."""

from __future__ import annotations

import numpy as np
import pytest

from ownvoice_ai.prepare import (
    MAX_REFERENCE_SECONDS,
    REFERENCE_SAMPLE_RATE,
    TARGET_LUFS,
    PreparedReference,
    VoiceRejected,
    _mask,
    best_window,
    estimate_snr_db,
    find_speech,
    measure_loudness,
    prepare_reference,
    reduce_noise,
)
from tests.speech_fixtures import clean_speech, encode, lj_clip, wav_bytes, with_noise

REPORT_KEYS = {
    "speech_seconds",
    "duration_seconds",
    "snr_db",
    "snr_db_before",
    "clipping_ratio",
    "loudness_lufs",
    "noise_reduced",
    "warnings",
}


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return clean_speech(25.0)  # LJ001-0001..0004: 26.4 s of one reader


@pytest.fixture(scope="module")
def clean(speech: np.ndarray) -> PreparedReference:
    return prepare_reference(wav_bytes(speech))


@pytest.fixture(scope="module")
def noisy(speech: np.ndarray) -> PreparedReference:
    return prepare_reference(wav_bytes(with_noise(speech, noise_rms=0.03)))


def test_clean_speech_passes_without_warnings(clean: PreparedReference, speech: np.ndarray) -> None:
    report = clean.report
    assert report.warnings == []
    assert not report.noise_reduced
    assert report.snr_db == report.snr_db_before > 30
    assert 20 < report.speech_seconds <= report.duration_seconds
    assert report.duration_seconds == pytest.approx(len(speech) / 22050, abs=0.01)
    assert report.clipping_ratio == 0.0


def test_report_has_exactly_the_documented_keys(clean: PreparedReference) -> None:
    report = clean.report.to_dict()
    assert set(report) == REPORT_KEYS
    assert isinstance(report["noise_reduced"], bool)
    assert all(
        isinstance(report[key], float) for key in REPORT_KEYS - {"noise_reduced", "warnings"}
    )


def test_output_is_speech_at_the_target_loudness(clean: PreparedReference) -> None:
    assert clean.sample_rate == REFERENCE_SAMPLE_RATE == 22050
    assert clean.audio.dtype == np.float32 and clean.audio.ndim == 1
    assert measure_loudness(clean.audio, clean.sample_rate) == pytest.approx(TARGET_LUFS, abs=0.5)
    assert float(np.max(np.abs(clean.audio))) <= 0.9
    # silence is trimmed, speech is kept
    seconds = len(clean.audio) / clean.sample_rate
    assert clean.report.speech_seconds <= seconds + 0.01 < clean.report.duration_seconds


def test_leading_and_trailing_silence_is_trimmed(speech: np.ndarray) -> None:
    silence = np.zeros(3 * 22050, dtype=np.float32)
    padded = np.concatenate([silence, speech, silence])
    prepared = prepare_reference(wav_bytes(padded))
    assert prepared.report.duration_seconds == pytest.approx(len(padded) / 22050, abs=0.01)
    assert len(prepared.audio) / 22050 < len(speech) / 22050 + 0.5
    assert prepared.report.warnings == []


def test_noise_is_reported_and_reduced(noisy: PreparedReference, clean: PreparedReference) -> None:
    report = noisy.report
    assert "noisy" in [warning.code for warning in report.warnings]
    noisy_warning = next(w for w in report.warnings if w.code == "noisy")
    assert "quieter" in noisy_warning.message
    assert report.noise_reduced
    assert 8 < report.snr_db_before < 13  # 0.03 RMS white noise on LJ Speech is about 10.4 dB
    # cleaning measurably raises the estimated SNR
    assert report.snr_db > report.snr_db_before + 2
    # the speech itself is still found
    assert report.speech_seconds == pytest.approx(clean.report.speech_seconds, rel=0.1)


def _si_sdr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio: speech distortion counts as noise too."""
    reference = reference.astype(np.float64)
    scale = np.dot(estimate, reference) / np.dot(reference, reference)
    target = scale * reference
    return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


@pytest.mark.parametrize("noise_rms", [0.02, 0.03, 0.05])
def test_noise_reduction_really_improves_the_signal(speech: np.ndarray, noise_rms: float) -> None:
    """Against the clean source, not just by the estimate in the report."""
    noisy = with_noise(speech, noise_rms)
    mask = _mask(find_speech(noisy, 22050), len(noisy))
    snr = estimate_snr_db(noisy, mask, 22050)
    cleaned = reduce_noise(noisy, mask, 22050, snr)
    assert cleaned is not None
    assert _si_sdr_db(cleaned, speech) > _si_sdr_db(noisy, speech) + 0.8


def test_mild_noise_is_left_alone(speech: np.ndarray) -> None:
    # At about 22 dB, spectral gating distorts more speech than it removes noise.
    report = prepare_reference(wav_bytes(with_noise(speech, noise_rms=0.008))).report
    assert report.snr_db_before > 20
    assert not report.noise_reduced
    assert report.warnings == []


def test_short_speech_is_accepted_with_advice() -> None:
    eight_seconds = np.concatenate([lj_clip(4), lj_clip(11)])  # 5.1 s + 4.5 s of speech
    report = prepare_reference(wav_bytes(eight_seconds)).report
    codes = [warning.code for warning in report.warnings]
    assert codes == ["short_speech"]
    assert report.warnings[0].message.startswith(f"only {report.speech_seconds:.0f} s of speech")
    assert "at least 20 s" in report.warnings[0].message


def test_clipping_is_reported(speech: np.ndarray) -> None:
    clipped = np.clip(speech * 6.0, -1.0, 1.0)
    report = prepare_reference(wav_bytes(clipped)).report
    assert report.clipping_ratio > 0.01
    assert "clipping" in [warning.code for warning in report.warnings]


def test_quiet_recording_is_reported_and_raised(speech: np.ndarray) -> None:
    prepared = prepare_reference(wav_bytes(speech * 0.01))
    assert prepared.report.loudness_lufs < -45
    assert "quiet" in [warning.code for warning in prepared.report.warnings]
    # still brought up to a usable level for conditioning
    assert measure_loudness(prepared.audio, prepared.sample_rate) > -30


def test_browser_webm_recording_is_prepared(speech: np.ndarray) -> None:
    prepared = prepare_reference(encode(speech, "webm_opus_browser"))
    assert prepared.report.warnings == []
    assert prepared.report.speech_seconds > 20


# --- rejections ---------------------------------------------------------------------


def _rejection(data: bytes) -> VoiceRejected:
    with pytest.raises(VoiceRejected) as caught:
        prepare_reference(data)
    return caught.value


def test_two_second_clip_is_too_short() -> None:
    error = _rejection(wav_bytes(lj_clip(2)))  # 1.9 s
    assert (error.code, error.status_code) == ("too_short", 422)
    assert "at least 3 s" in error.message


def test_text_file_renamed_wav_is_unreadable() -> None:
    error = _rejection(b"Dear diary, today I recorded my voice.\n" * 40)
    assert (error.code, error.status_code) == ("unreadable_audio", 415)
    assert "wav, mp3, m4a, webm, ogg or flac" in error.message


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(22050 * 6, dtype=np.float32),
        np.random.default_rng(3).normal(0, 0.1, 22050 * 6).astype(np.float32),
    ],
    ids=["silence", "noise"],
)
def test_no_speech_is_rejected(audio: np.ndarray) -> None:
    error = _rejection(wav_bytes(audio))
    assert (error.code, error.status_code) == ("no_speech", 422)


def test_over_ten_minutes_is_too_long() -> None:
    error = _rejection(wav_bytes(np.zeros(601 * 8000, dtype=np.float32), 8000))
    assert (error.code, error.status_code) == ("too_long", 413)


def test_loading_the_vad_keeps_torch_threads() -> None:
    # silero-vad sets torch to one thread when first imported: check in a fresh process.
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import torch; torch.set_num_threads(2);"
        "from ownvoice_ai.prepare import _load_vad; _load_vad();"
        "print(torch.get_num_threads())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "2"


# --- a long recording: only its clearest minute is cleaned and conditioned on ---------

LONG_NOISY_SECONDS, LONG_CLEAN_SECONDS = 300.0, 162.0  # 7.7 minutes in all


def _tiled(seconds: float) -> np.ndarray:
    clips = clean_speech(60.0)  # LJ001-0001.. joined; repeated to length
    return np.tile(clips, int(seconds * 22050 // len(clips)) + 1)[: int(seconds * 22050)]


@pytest.fixture(scope="module")
def long_recording() -> np.ndarray:
    """5 minutes of speech under loud fan noise, then 2.7 minutes of the same reader, clean."""
    return np.concatenate(
        [with_noise(_tiled(LONG_NOISY_SECONDS), noise_rms=0.05), _tiled(LONG_CLEAN_SECONDS)]
    )


def test_the_best_window_of_a_long_recording_is_its_clean_part(long_recording: np.ndarray) -> None:
    sr = REFERENCE_SAMPLE_RATE
    start, end = best_window(long_recording, sr)
    assert end - start == int(MAX_REFERENCE_SECONDS * sr)
    assert start >= LONG_NOISY_SECONDS * sr


def test_a_long_recording_is_cleaned_and_kept_only_for_its_clearest_minute(
    long_recording: np.ndarray,
) -> None:
    prepared = prepare_reference(wav_bytes(long_recording))
    report = prepared.report
    assert len(prepared.audio) <= MAX_REFERENCE_SECONDS * prepared.sample_rate
    assert report.duration_seconds == pytest.approx(
        LONG_NOISY_SECONDS + LONG_CLEAN_SECONDS, abs=0.1
    )
    assert 40 < report.speech_seconds <= MAX_REFERENCE_SECONDS  # the minute that is used
    assert report.snr_db_before > 30 and not report.noise_reduced  # measured on the clean part
    assert report.warning_codes() == ["trimmed"]
