"""Character timings from word timings (app.services.timestamps): pure functions."""

from __future__ import annotations

from app.services.timestamps import cached_words, character_times, chunks_of


def test_chunks_are_sentences_that_join_to_the_text() -> None:
    text = "  The lighthouse stood.\n\nMaya counted 243 steps!  Then   she rested. "
    chunks = chunks_of(text, "en")
    assert "".join(chunks) == text
    assert [c.strip() for c in chunks] == [
        "The lighthouse stood.",
        "Maya counted 243 steps!",
        "Then   she rested.",
    ]


def test_a_text_the_segmenter_cannot_map_back_is_one_chunk() -> None:
    assert chunks_of("x", "en") == ["x"]
    assert chunks_of("   ", "en") == ["   "]


def test_words_share_their_span_and_the_gaps_go_to_what_is_between() -> None:
    chunk = "Hi, you! "
    words = [
        {"char_start": 0, "char_end": 2, "start": 0.2, "end": 0.6},  # "Hi"
        {"char_start": 4, "char_end": 7, "start": 1.0, "end": 1.6},  # "you"
    ]
    timed = character_times(chunk, words, duration=2.0, offset=10.0)
    assert "".join(timed.characters) == chunk
    assert timed.starts == [10.2, 10.4, 10.6, 10.8, 11.0, 11.2, 11.4, 11.6, 11.8]
    assert timed.ends == [10.4, 10.6, 10.8, 11.0, 11.2, 11.4, 11.6, 11.8, 12.0]


def test_cached_words_count_their_characters_in_the_sentence() -> None:
    sentence = "In 1851, Dr. Smith left."
    cached = [
        {"word": "In", "start": 0.1, "end": 0.3, "offset": 0, "heard": True},
        {"word": "1851", "start": 0.3, "end": 1.2, "offset": 3, "heard": True},
        {"word": "Smith", "start": 1.5, "end": 1.9, "offset": 13, "heard": False},
    ]
    assert cached_words(sentence, cached) == [
        {"char_start": 0, "char_end": 2, "start": 0.1, "end": 0.3},
        {"char_start": 3, "char_end": 7, "start": 0.3, "end": 1.2},
        {"char_start": 13, "char_end": 18, "start": 1.5, "end": 1.9},
    ]


def test_cached_words_that_do_not_fit_the_sentence_are_not_used() -> None:
    word = {"word": "Smith", "start": 1.5, "end": 1.9, "offset": 13}
    assert cached_words("In 1851, Dr. Smyth left.", [word]) is None  # another text
    assert cached_words("In 1851, Dr. Smith left.", [{**word, "offset": None}]) is None
    assert cached_words("In 1851, Dr. Smith left.", [{"word": "Smith"}]) is None
