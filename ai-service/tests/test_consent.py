"""Finding the consent sentence in a transcript's words (ownvoice_ai.consent.locate)."""

from __future__ import annotations

from ownvoice_ai.consent import locate


def words(text: str) -> list[str]:
    return text.split()


PASSAGE = words("she laughed and pointed past the harbour where fishing boats bobbed")


def test_the_sentence_with_the_name_is_found_even_heard_loosely() -> None:
    heard = PASSAGE + words(
        "I, Maya Brown, agree that own voice may create a synthetic copy of my voice."
    )
    found = locate(heard, "Maya Brown")
    assert found is not None and found.name_heard
    assert heard[found.first] == "I," and heard[found.last] == "voice."


def test_a_misheard_word_or_two_still_counts() -> None:
    heard = PASSAGE + words(
        "I, Maya Brown, agreed that Own Voice may create the synthetic copy of my voice"
    )
    found = locate(heard, "maya brown")
    assert found is not None and found.name_heard


def test_another_name_is_not_the_name() -> None:
    heard = PASSAGE + words(
        "I, Oliver Twist, agree that Ownvoice may create a synthetic copy of my voice."
    )
    found = locate(heard, "Maya Brown")
    assert found is not None and not found.name_heard


def test_no_sentence_is_none() -> None:
    assert locate(PASSAGE, "Maya Brown") is None
    assert locate(PASSAGE + words("I agree to nothing at all."), "Maya Brown") is None
    assert locate([], "Maya Brown") is None
