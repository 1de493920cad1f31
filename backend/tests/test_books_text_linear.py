"""Sentence splitting is linear: 100x more adversarial text costs about 100x the time.

Each kind of paragraph is timed on its own as CPU time against 1,000 characters of the same (the
small run the best of a few, so a busy machine can only shrink the ratio). pysbd alone took 41 s
for "Mr. " x 20,000; it now only ever sees bounded windows of a paragraph.
"""

from __future__ import annotations

import time

import pytest

from app.services.books.segment import PYSBD_WINDOW_CHARS, split_sentences

SMALL, LARGE = 1_000, 100_000
MAX_RATIO = 300  # linear is 100; quadratic about 10,000

ADVERSARIAL = {
    "abbreviations": "Mr. ",
    "numbered list": "1. ",
    "initials": "a.b.c ",
    "digits": "31415926535897932384",
    "no spaces": "abcdefghijklmnopqrstuvwxyz",
    "emoji": "😀🎉👍🏽\u200d\ufe0f",
    "right to left": "مرحبا بالعالم. \u202b",
    "control characters": "\x01\x02\x1b\u202e\u200f\x7f",
    "punctuation": "!?…",
    "mixed": "Mr. 31415926535897932384 abcdefghij😀 مرحبا\x01!? 1.2.3 ",
}


def _text(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _cpu_seconds(text: str) -> float:
    start = time.process_time()
    split_sentences(text, "en")
    return time.process_time() - start


@pytest.mark.parametrize("kind", ADVERSARIAL)
def test_sentence_splitting_is_linear(kind: str) -> None:
    unit = ADVERSARIAL[kind]
    _cpu_seconds(_text(unit, SMALL))  # warm pysbd's compiled rules
    small = min(_cpu_seconds(_text(unit, SMALL)) for _ in range(5))
    large = _cpu_seconds(_text(unit, LARGE))
    ratio = large / max(small, 1e-4)
    assert ratio < MAX_RATIO, f"{kind}: {LARGE:,} characters took {large:.2f} s ({ratio:.0f}x)"


def test_windows_never_cut_a_sentence() -> None:
    sentence = "Mr. Smith met Dr. Watson at 5 p.m. on Baker St. today."
    paragraph = f"{sentence} " * 400
    assert len(paragraph) > 10 * PYSBD_WINDOW_CHARS
    assert split_sentences(paragraph, "en") == [sentence] * 400


def test_windows_keep_every_character() -> None:
    paragraph = " ".join(f"Sentence {n} says Mr. {n} and stops. Then?! More" for n in range(2000))
    sentences = split_sentences(paragraph, "en")
    assert "".join(sentences).replace(" ", "") == paragraph.replace(" ", "")
    assert all(len(sentence) <= 600 for sentence in sentences)
