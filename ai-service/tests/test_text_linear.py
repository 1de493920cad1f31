"""Text processing is linear: 100x more adversarial text costs about 100x the time, never 10,000x.

Each kind of text is timed on its own (a quadratic path must not hide behind a linear one), as
CPU time, against 1,000 characters of the same; the small run is the best of a few, so a busy
machine can only make the ratio smaller. And what one request may cost in audio is bounded
by its length: the spoken text by `spoken_limit`, each chunk by the engine's token budget.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ownvoice_ai.engines.xtts import MAX_TOKENS_PER_CHAR, MIN_TOKEN_BUDGET, StreamTuning
from ownvoice_ai.text import SPOKEN_SLACK_CHARS, split_for_model

SMALL, LARGE = 1_000, 100_000
# Linear is 100; the slack absorbs fixed costs and noise. A quadratic path gives about 10,000.
MAX_RATIO = 300
AUDIO_TOKENS_PER_SECOND = 21.53

ADVERSARIAL = {
    "digits": "31415926535897932384",
    "numbers with separators": "1,234.5 ",
    "dotted numbers": "1.2.",
    "abbreviations": "Mr. ",
    "no spaces": "abcdefghijklmnopqrstuvwxyz",
    "emoji": "😀🎉👍🏽\u200d\ufe0f",
    "right to left": "مرحبا بالعالم \u202b",
    "control characters": "\x01\x02\x1b\u202e\u200f\x7f",
    "punctuation": "!?…",
    "whitespace": " \t \u3000\n",
    "mixed": "Mr. 31415926535897932384 abcdefghij😀 مرحبا\x01!? 1.2.3 ",
}


def _text(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _cpu_seconds(text: str) -> float:
    start = time.process_time()
    # A token counter too, as XTTS requests use: every path through the chunker is exercised.
    split_for_model(text, "en", count_tokens=lambda chunk: len(chunk.encode("utf-8")) // 2)
    return time.process_time() - start


@pytest.mark.parametrize("kind", ADVERSARIAL)
def test_normalising_and_chunking_are_linear(kind: str) -> None:
    unit = ADVERSARIAL[kind]
    _cpu_seconds(_text(unit, SMALL))  # warm caches and lazy imports
    small = min(_cpu_seconds(_text(unit, SMALL)) for _ in range(5))
    large = _cpu_seconds(_text(unit, LARGE))
    ratio = large / max(small, 1e-4)
    assert ratio < MAX_RATIO, (
        f"{kind}: {LARGE:,} characters took {large:.2f} s, {ratio:.0f}x {SMALL:,}"
    )


def _audio_budget_seconds(text: str) -> float:
    """The most audio the engine may make for `text`: every chunk's token budget, summed."""
    tuning = StreamTuning()
    tokens = sum(tuning.token_limits(chunk)[1] for chunk in split_for_model(text, "en"))
    return tokens / AUDIO_TOKENS_PER_SECOND


# Ordinary prose gets about 0.14 s of budget per character (and speaks at about 0.07 s); text made
# of numbers and one-letter sentences reads longer than it looks, but never more than this.
MAX_AUDIO_SECONDS_PER_CHAR = 1.0
# A short text may still be a chunk with the engine's minimum budget and the spoken-text slack.
SLACK_SECONDS = (
    MIN_TOKEN_BUDGET + MAX_TOKENS_PER_CHAR * SPOKEN_SLACK_CHARS
) / AUDIO_TOKENS_PER_SECOND


def test_five_thousand_digits_make_seconds_of_audio_not_minutes() -> None:
    assert _audio_budget_seconds("7" * 5000) < 60  # was 23.7 minutes: every digit read out


@pytest.mark.parametrize(
    "unit", ["7 ", "777 ", "777,777 ", "7. ", "a. ", "7%", "&", "1.2.", "$7 ", "7!"]
)
def test_audio_per_character_is_bounded_for_number_and_symbol_runs(unit: str) -> None:
    text = _text(unit, 5000)
    assert _audio_budget_seconds(text) <= MAX_AUDIO_SECONDS_PER_CHAR * len(text)


_PIECES = st.sampled_from(
    list("0123456789 .,:;-%$€&+=@!?/ab\n") + ["Mr. ", "1st", "e.g. ", "777,777"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(_PIECES, min_size=1, max_size=200).map("".join))
def test_audio_per_character_is_bounded(text: str) -> None:
    assert _audio_budget_seconds(text) <= MAX_AUDIO_SECONDS_PER_CHAR * len(text) + SLACK_SECONDS
