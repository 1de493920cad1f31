"""The verification stages (ownvoice_ai/verify): alignment onto the source text, timings, CER,
verdicts and trimming, on synthetic words first, then on real Piper speech heard by the bundled
Whisper model (loaded once for the whole session: the recognizer is one per process)."""

from __future__ import annotations

import numpy as np
import pytest

from ownvoice_ai.engines.base import SynthesisOptions
from ownvoice_ai.verify import Word, check_take, retake_options, speaker_similarity
from ownvoice_ai.verify.check import (
    CER_THRESHOLDS,
    MAX_DURATION_RATIO,
    SIMILARITY_THRESHOLD,
    align,
    align_words,
    cer_threshold,
    expected_seconds,
    judge,
    source_words,
    spoken_form,
)
from ownvoice_ai.verify.takes import RETAKE_COOLING
from ownvoice_ai.verify.trim import Cut, apply_cut, find_cut
from tests.speech_fixtures import lj_clip

RATE = 24000


# --- spoken forms and alignment (no model) ----------------------------------------------------


def test_spoken_form_reads_numbers_and_abbreviations_like_the_tts_normaliser() -> None:
    assert spoken_form("In 1851, Dr. Smith paid $3.50!", "en") == (
        "in eighteen fifty one doctor smith paid three dollars fifty cents"
    )
    assert spoken_form("“Don’t,” she said—well-known.", "en") == "dont she said well known"


def test_source_words_keep_the_text_and_offsets_without_punctuation() -> None:
    text = '"Oh!" In 1851, Dr. Smith.'
    words = source_words(text)
    assert [w.text for w in words] == ["Oh", "In", "1851", "Dr", "Smith"]
    assert all(text[w.start : w.end] == w.text for w in words)


def test_a_number_heard_as_words_maps_onto_the_written_number() -> None:
    heard = [
        Word("In", 0.1, 0.3, 0.9),
        Word("eighteen", 0.3, 0.7, 0.9),
        Word("fifty-one,", 0.7, 1.2, 0.9),
        Word("Doctor", 1.3, 1.6, 0.9),
        Word("Smith.", 1.6, 2.0, 0.9),
    ]
    words = align_words("In 1851, Dr. Smith.", heard, "en", 2.5)
    assert [(w.text, w.start, w.end, w.heard) for w in words] == [
        ("In", 0.1, 0.3, True),
        ("1851", 0.3, 1.2, True),
        ("Dr", 1.3, 1.6, True),
        ("Smith", 1.6, 2.0, True),
    ]


def test_unheard_words_are_placed_between_their_neighbours() -> None:
    heard = [Word("one", 0.0, 0.4, 0.9), Word("four", 1.6, 2.0, 0.9)]
    alignment = align("one two three four five", heard, "en", 3.0)
    timings = [(w.text, round(w.start, 3), round(w.end, 3), w.heard) for w in alignment.words]
    assert timings == [
        ("one", 0.0, 0.4, True),
        ("two", 0.4, 1.0, False),
        ("three", 1.0, 1.6, False),
        ("four", 1.6, 2.0, True),
        ("five", 2.0, 3.0, False),
    ]
    assert alignment.last_matched == 1


def test_timings_never_go_back_and_stay_inside_the_audio() -> None:
    heard = [Word("a", 0.5, 0.9, 0.9), Word("b", 0.4, 0.6, 0.9), Word("c", 2.8, 3.5, 0.9)]
    words = align_words("a b c", heard, "en", 3.0)
    assert [(w.start, w.end) for w in words] == [(0.5, 0.9), (0.9, 0.9), (2.8, 3.0)]


# --- several takes heard in one recognition window (no model) ----------------------------------


def test_takes_are_packed_into_windows_in_order() -> None:
    from ownvoice_ai.verify.asr import PACK_GAP_SECONDS, PACK_WINDOW_SECONDS, packs

    fits = (PACK_WINDOW_SECONDS - PACK_GAP_SECONDS) / 2
    assert packs([fits, fits, 3.0, 40.0, 1.0]) == [[0, 1], [2], [3], [4]]
    assert packs([1.0] * 5) == [[0, 1, 2, 3, 4]]


def test_a_windows_words_go_back_to_their_takes_with_their_own_times() -> None:
    from ownvoice_ai.verify.asr import PACK_GAP_SECONDS, unpack

    second = 2.0 + PACK_GAP_SECONDS  # where the second take starts in the window
    heard = [
        Word("one", 0.1, 0.5, 0.9),
        Word("two", 0.6, 1.9, 0.9),
        Word("you.", 2.2, 2.6, 0.5),  # heard in the gap: the first take's
        Word("three", second + 0.2, second + 0.6, 0.9),
        Word("four", second + 0.7, second + 1.8, 0.9),  # runs past the take's end: clamped
    ]
    first, last = unpack(heard, [2.0, 1.5])
    assert [(w.text, w.start, w.end) for w in first.words] == [
        ("one", 0.1, 0.5),
        ("two", 0.6, 1.9),
        ("you.", 2.0, 2.0),
    ]
    assert [(w.text, round(w.start, 3), round(w.end, 3)) for w in last.words] == [
        ("three", 0.2, 0.6),
        ("four", 0.7, 1.5),
    ]
    assert last.text == "three four"


def test_takes_heard_together_are_judged_like_takes_heard_alone(piper) -> None:
    from ownvoice_ai.verify.takes import check_takes

    other = "Reading aloud every evening helps children learn new words."
    together = check_takes(
        [(SENTENCE, _speak(piper, SENTENCE)), (other, _speak(piper, other))], RATE
    )
    assert [take.verdict.passed for take in together] == [True, True], [t.heard for t in together]
    assert [w.text for w in together[1].words] == [w.text for w in source_words(other)]
    assert together[1].words[0].start < 0.5  # its own times, not the window's


# --- verdicts and retakes ---------------------------------------------------------------------


def test_short_sentences_get_more_slack_than_long_ones() -> None:
    limits = [limit for _, limit in CER_THRESHOLDS]
    assert limits == sorted(limits, reverse=True) and limits[0] > limits[-1]
    assert cer_threshold("yes") == limits[0]
    assert cer_threshold("x" * 300) == limits[-1]


def test_a_verdict_says_why_a_take_failed() -> None:
    reference = "the quick brown fox jumps over the lazy dog again and again and again"
    seconds = expected_seconds(reference)
    assert judge(reference, 0.0, 0.9, seconds).passed
    failed = judge(reference, 0.9, SIMILARITY_THRESHOLD - 0.1, seconds * (MAX_DURATION_RATIO + 0.5))
    assert not failed.passed
    assert [reason.split()[0] for reason in failed.reasons] == ["character", "speaker", "the"]


def test_each_retake_has_a_new_seed_and_a_lower_temperature() -> None:
    options = SynthesisOptions(seed=41, temperature=0.8)
    assert retake_options(options, 1) == options
    second, third = retake_options(options, 2), retake_options(options, 3)
    assert (second.seed, third.seed) == (42, 43)
    assert second.temperature == pytest.approx(0.8 * RETAKE_COOLING)
    assert third.temperature == pytest.approx(0.8 * RETAKE_COOLING**2)
    assert third.temperature < second.temperature < options.temperature


# --- trimming (no model) ----------------------------------------------------------------------


def _tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def test_silence_at_both_ends_is_cut_to_a_natural_pause() -> None:
    audio = np.concatenate([_silence(1.0), _tone(2.0), _silence(1.5)])
    cut = find_cut(audio, RATE, last_word_end=2.95)
    assert cut == Cut(pytest.approx(0.9, abs=0.011), pytest.approx(3.1, abs=0.011))


def test_sound_after_the_last_word_is_cut_at_the_gap_with_a_fade() -> None:
    noise = np.random.default_rng(1).normal(0, 0.1, int(1.0 * RATE)).astype(np.float32)
    audio = np.concatenate([_tone(2.0), _silence(0.3), noise])
    cut = find_cut(audio, RATE, last_word_end=1.97)
    assert 2.0 <= cut.end <= 1.97 + 0.15
    kept = apply_cut(audio, RATE, Cut(0.0, 1.5))  # a cut inside the tone fades out
    assert abs(kept[-1]) < 0.01 and np.max(np.abs(kept[-RATE // 10 :])) > 0.25


def test_babble_straight_after_the_last_word_is_cut_soon_after_it() -> None:
    audio = np.concatenate([_tone(2.0), _tone(1.0, level=0.2)])  # no gap at all
    cut = find_cut(audio, RATE, last_word_end=2.0)
    assert cut.end == pytest.approx(2.1, abs=0.011)


# --- real speech heard by the bundled Whisper -------------------------------------------------


@pytest.fixture(scope="module")
def piper():
    from ownvoice_ai.engines.piper import PiperEngine

    engine = PiperEngine()
    assert engine.load().available
    return engine


def _speak(piper, text: str) -> np.ndarray:
    import soxr

    chunks = piper.stream(text, "stock-joe", SynthesisOptions())
    audio = np.concatenate([chunk.samples for chunk in chunks])
    return soxr.resample(audio, piper.sample_rate, RATE).astype(np.float32)


SENTENCE = "The old house by the river was built in 1851, and it still stands."


def test_a_correct_take_passes_and_1851_is_timed_where_it_is_said(piper) -> None:
    audio = _speak(piper, SENTENCE)
    take = check_take(SENTENCE, audio, RATE)
    assert take.verdict.passed, (take.verdict, take.heard)
    assert [w.text for w in take.words] == [w.text for w in source_words(SENTENCE)]
    assert all(w.heard for w in take.words)
    by_text = {w.text: w for w in take.words}
    # "eighteen fifty-one" takes longer to say than one short word (about 0.75 s here)
    assert by_text["1851"].end - by_text["1851"].start > 0.3, take.words
    assert by_text["in"].end <= by_text["1851"].start < by_text["and"].start
    duration = len(take.samples) / RATE
    ends = [edge for w in take.words for edge in (w.start, w.end)]
    assert ends == sorted(ends) and ends[0] >= 0 and ends[-1] <= duration


def test_a_noise_tail_is_trimmed_back_to_the_last_word(piper) -> None:
    clean = _speak(piper, SENTENCE)
    noise = np.random.default_rng(0).normal(0, 0.05, int(1.5 * RATE)).astype(np.float32)
    take = check_take(SENTENCE, np.concatenate([clean, noise]), RATE)
    duration = len(take.samples) / RATE
    assert duration <= take.words[-1].end + 0.15, (duration, take.words[-1])
    assert duration < len(clean) / RATE  # all of the noise went, and Piper's own trailing silence
    assert take.verdict.passed, (take.verdict, take.heard)


def test_a_take_of_other_text_fails(piper) -> None:
    audio = _speak(piper, "Alice was beginning to get very tired of sitting by her sister.")
    take = check_take(SENTENCE, audio, RATE)
    assert not take.verdict.passed
    assert take.verdict.cer > 0.5


def test_speaker_similarity_tells_speakers_apart(piper, librispeech_speakers) -> None:
    from ownvoice_ai.audio import decode_audio

    first, second = (
        decode_audio(path.read_bytes(), 16000) for path in librispeech_speakers["1688"][:2]
    )
    other = decode_audio(librispeech_speakers["1998"][0].read_bytes(), 16000)
    same = speaker_similarity(first, 16000, second, 16000)
    different = speaker_similarity(first, 16000, other, 16000)
    assert same >= SIMILARITY_THRESHOLD > different
    assert speaker_similarity(lj_clip(1), 22050, lj_clip(2), 22050) >= SIMILARITY_THRESHOLD
