"""The one rule for unspeakable fragments (app.services.books.fragments), and where the
importer applies it: sentences of a paragraph, paragraphs of a chapter."""

from __future__ import annotations

from app.services.books.fragments import is_speakable, join_unspeakable
from app.services.books.parsed import ParsedBook, ParsedChapter
from app.services.books.store import book_rows, paragraph_sentences


def test_text_without_a_letter_or_digit_has_nothing_to_say() -> None:
    texts = ('"', "* * *", "\u2014", "\u2026", "__", "7", "Ja", "\u4e00")
    assert [is_speakable(t) for t in texts] == [False] * 5 + [True] * 3


def test_a_fragment_joins_the_piece_before_it_or_after_it_when_first() -> None:
    source = 'Oh dear!" "Yes," she said. \u2014 Then.'
    pieces = ["Oh dear!", '"', '"Yes," she said.', "\u2014", "Then."]
    assert join_unspeakable(pieces, source) == ['Oh dear!"', '"Yes," she said. \u2014', "Then."]
    assert join_unspeakable(["* * *", "It began."]) == ["* * * It began."]
    assert join_unspeakable(['"', "\u2014"]) == ['" \u2014']  # nothing to join: kept whole
    assert join_unspeakable(["One.", "Two."]) == ["One.", "Two."]
    assert join_unspeakable([]) == []


def test_alices_lone_closing_quote_stays_with_its_sentence() -> None:
    paragraph = (
        "Oh, my poor little feet, I wonder who will put on your shoes and stockings "
        "for you now, dears? I shall be a great deal too far off to trouble myself "
        'about you."'
    )
    assert paragraph_sentences(paragraph, "en")[-1] == (
        'I shall be a great deal too far off to trouble myself about you."'
    )


def test_positions_follow_the_document_and_fragments_are_no_paragraphs() -> None:
    chapters = [
        ParsedChapter(
            "One",
            ["The cat sat. It purred. Then it slept.", "* * *", "Morning came. The cat woke."],
        ),
        ParsedChapter("Two", ["\u201d", "A dog barked. Nobody came."]),
    ]
    rows = book_rows(ParsedBook(title="T", author=None, language="en", chapters=chapters))
    assert [r["position"] for r in rows.sentences] == list(range(7))
    assert [r["text"] for r in rows.sentences] == [
        "The cat sat.",
        "It purred.",
        "Then it slept. * * *",
        "Morning came.",
        "The cat woke.",
        "\u201d A dog barked.",
        "Nobody came.",
    ]
    assert len(rows.paragraphs) == 3  # the scene break and the quote joined their neighbours
