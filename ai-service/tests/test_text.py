"""Text normalisation and chunking: examples plus property-based limits."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ownvoice_ai.text import (
    CHAR_LIMITS,
    SUPPORTED_LANGUAGES,
    char_limit,
    normalize,
    sentences,
    split_for_model,
    spoken_limit,
)

# --- limits -----------------------------------------------------------------------


def test_char_limits_match_the_xtts_tokenizer() -> None:
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer

    xtts_limits = VoiceBpeTokenizer().char_limits
    for language, limit in CHAR_LIMITS.items():
        assert xtts_limits[language.split("-")[0]] == limit, language


@pytest.mark.parametrize(
    ("language", "limit"),
    [
        ("en", 250),
        ("en-US", 250),
        ("zh", 82),
        ("zh-CN", 82),
        ("zh_cn", 82),
        ("JA", 71),
        ("xx", 250),
    ],
)
def test_char_limit_accepts_regional_codes(language: str, limit: int) -> None:
    assert char_limit(language) == limit


# Text that tries every way around the splitter: long runs without spaces or
# punctuation, CJK, emoji, quotes, digits, whitespace of all kinds.
_ADVERSARIAL_ALPHABET = st.sampled_from(
    list("abcdefghij ABC .,;:!?\"'«»“”—-()\n\t0123456789$€%&")
    + list("中文字。，！？日本語、")
    + list("😀🎉👍🏽\u200d\ufe0f")
    + ["\u00a0", "\u3000", "é", "ß", "Д", "ж", "ع", "ह"]
)
adversarial_text = st.text(alphabet=_ADVERSARIAL_ALPHABET, max_size=600)
languages = st.sampled_from(SUPPORTED_LANGUAGES)


def _assert_valid_chunks(chunks: list[str], language: str, max_chars: int) -> None:
    for chunk in chunks:
        assert chunk == chunk.strip(), repr(chunk)
        assert chunk, "empty chunk"
        assert any(ch.isalnum() for ch in chunk), f"nothing to say in {chunk!r}"
        assert len(chunk) <= max_chars, (language, len(chunk), chunk)
        assert not re.search(r"[?!？！][\"'”’»」』]$", chunk), (
            f"hallucination trigger kept: {chunk!r}"
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=adversarial_text, language=languages)
def test_every_chunk_fits_the_language_limit(text: str, language: str) -> None:
    chunks = split_for_model(text, language)
    _assert_valid_chunks(chunks, language, char_limit(language))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=adversarial_text, language=languages, max_tokens=st.integers(4, 60))
def test_every_chunk_fits_the_token_budget(text: str, language: str, max_tokens: int) -> None:
    # A deliberately harsh stand-in tokenizer: every UTF-8 byte a token.
    def count_tokens(chunk: str) -> int:
        return len(chunk.encode("utf-8"))

    chunks = split_for_model(text, language, count_tokens=count_tokens, max_tokens=max_tokens)
    _assert_valid_chunks(chunks, language, char_limit(language))
    assert all(count_tokens(chunk) <= max_tokens for chunk in chunks)


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("abcdefg .,;")), min_size=1, max_size=800))
def test_no_word_is_lost(text: str) -> None:
    chunks = split_for_model(text, "en", normalize_text=False)
    squeezed = lambda s: re.sub(r"[\s\W_]", "", s)  # noqa: E731 - letters only
    assert squeezed("".join(chunks)) == squeezed(text)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_ten_thousand_characters_without_punctuation(language: str) -> None:
    text = ("wordy" * 2000) if language not in {"zh-cn", "ja"} else "字" * 10_000
    chunks = split_for_model(text, language)
    _assert_valid_chunks(chunks, language, char_limit(language))
    assert "".join(chunks) == text


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_ten_thousand_characters_of_words_without_punctuation(language: str) -> None:
    text = " ".join(["reading"] * 1250)  # ~10,000 characters, spaces but no punctuation
    chunks = split_for_model(text, language, normalize_text=False)
    _assert_valid_chunks(chunks, language, char_limit(language))
    assert " ".join(chunks) == text
    # words are kept whole when there are spaces to split at
    assert all(set(chunk.split()) == {"reading"} for chunk in chunks)


def test_a_word_level_tokenizer_budget_holds() -> None:
    """With a `tokenizers` counter (as XTTS's BPE uses) and a tight budget, no chunk exceeds it."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()

    def count_tokens(chunk: str) -> int:
        return len(tokenizer.encode(chunk).ids)

    text = "One, two, three, four, five, six, seven, eight, nine, ten. " * 40
    chunks = split_for_model(text, "en", count_tokens=count_tokens, max_tokens=9)
    assert chunks
    assert all(count_tokens(chunk) <= 9 for chunk in chunks)


def test_long_sentence_splits_at_clause_boundaries() -> None:
    clause = "the quick brown fox jumps over the lazy dog again and again"
    sentence = ", ".join([clause] * 8) + "."
    chunks = split_for_model(sentence, "en")
    assert len(chunks) > 1
    assert all(len(chunk) <= 250 for chunk in chunks)
    # every cut but the last falls right after a comma, never inside a clause
    assert all(chunk.endswith(",") for chunk in chunks[:-1])


def test_cjk_sentences_and_clauses() -> None:
    text = "今天天气很好，我们去公园散步吧。" * 10 + "你好吗？我很好！"
    chunks = split_for_model(text, "zh-cn")
    assert all(len(chunk) <= 82 for chunk in chunks)
    assert chunks[-2:] == ["你好吗？", "我很好！"]


def test_hallucination_triggers_are_neutralised() -> None:
    chunks = split_for_model('He asked, "Why?" She shouted: "Stop!"', "en")
    assert chunks == ['He asked, "Why"?', 'She shouted: "Stop"!']


def test_emoji_and_symbols_are_dropped() -> None:
    assert split_for_model("🎉🎉🎉 👍🏽 ★ ©", "en") == []
    assert split_for_model("Hello 👋🏽 world ✨!", "en") == ["Hello world!"]


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_ten_thousand_characters_of_mixed_scripts_and_emoji(language: str) -> None:
    rng = random.Random(language)
    alphabet = list("abcdefghijklmnop    ") + list("中文字日本語") + ["😀", "🎉", "👍🏽", ",", "—"]
    text = "".join(rng.choice(alphabet) for _ in range(10_000))
    chunks = split_for_model(text, language)
    _assert_valid_chunks(chunks, language, char_limit(language))
    kept = re.sub(r"[\s,—]", "", "".join(chunks))
    assert kept == re.sub(r"[\s,—😀🎉👍🏽]", "", text)  # only the emoji went


def test_whitespace_only_gives_no_chunks() -> None:
    assert split_for_model(" \n\t\u00a0 ", "en") == []
    assert split_for_model("... !!! ???", "en") == []


# --- sentences ------------------------------------------------------------------


def test_sentences_respect_abbreviations_and_paragraphs() -> None:
    text = "Mr. Smith arrived at 3 p.m. yesterday. He sat down.\n\nChapter Two\nIt rained."
    assert sentences(text, "en") == [
        "Mr. Smith arrived at 3 p.m. yesterday.",
        "He sat down.",
        "Chapter Two It rained.",
    ]


@pytest.mark.parametrize("language", ["pt", "tr", "cs", "hu", "ko"])
def test_sentences_for_languages_pysbd_lacks(language: str) -> None:
    assert sentences("Primeira frase. Segunda frase! Terceira?", language) == [
        "Primeira frase.",
        "Segunda frase!",
        "Terceira?",
    ]


def test_japanese_sentences() -> None:
    assert sentences("こんにちは。元気ですか？はい、元気です。", "ja") == [
        "こんにちは。",
        "元気ですか？",
        "はい、元気です。",
    ]


# --- normalisation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("There were 50 soldiers.", "There were fifty soldiers."),
        ("In 12.5 seconds.", "In twelve point five seconds."),
        ("That's 100,000 people.", "That's one hundred thousand people."),
        ("It cost $20.", "It cost twenty dollars."),
        (
            "It cost $1,234.56 in total.",
            "It cost one thousand, two hundred and thirty-four dollars, fifty-six cents in total.",
        ),
        ("Only $0.01 left.", "Only one cent left."),
        ("That is 20€ or £5.", "That is twenty euros or five pounds."),
        ("A 50% discount.", "A fifty percent discount."),
        ("The 1st and the 22nd.", "The first and the twenty-second."),
        ("In 1984 it began.", "In nineteen eighty-four it began."),
        ("Meet at 10:30 or 9:05.", "Meet at ten thirty or nine oh five."),
        ("Mr. and Mrs. Smith met Dr. Jones.", "Mister and Misses Smith met Doctor Jones."),
        (
            "We prayed at St. Paul's on Baker St. near here.",
            "We prayed at Saint Paul's on Baker Street near here.",
        ),
        ("Apples, pears, etc. are fruit.", "Apples, pears, et cetera are fruit."),
        ("Apples, pears, etc.", "Apples, pears, et cetera."),
        ("Tom & Jerry", "Tom and Jerry"),
        ("Release 1.5.2 is out.", "Release one point five point two is out."),
        ("Call 007 now.", "Call zero zero seven now."),
        (
            "From 1990-2000, pages 10–12.",
            "From nineteen ninety to two thousand, pages ten to twelve.",
        ),
        ("It was -5 outside.", "It was minus five outside."),
    ],
)
def test_english_normalisation(text: str, expected: str) -> None:
    assert normalize(text, "en") == expected


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("de", "Es gab 50 Soldaten.", "Es gab fünfzig Soldaten."),
        ("de", "In 12,5 Sekunden.", "In zwölf Komma fünf Sekunden."),
        ("de", "Das macht 20,15€.", "Das macht zwanzig Euro und fünfzehn Cent."),
        ("de", "Am 3. Mai kamen 1.000 Leute.", "Am dritte Mai kamen eintausend Leute."),
        ("de", "Das ist z.B. gut.", "Das ist zum Beispiel gut."),
        ("fr", "Il y avait 50 soldats.", "Il y avait cinquante soldats."),
        ("fr", "Le 1er prix, 20€.", "Le premier prix, vingt euros."),
        ("es", "El Sr. García tiene 30 años.", "El señor García tiene treinta años."),
        ("ru", "У меня 5 яблок.", "У меня пять яблок."),
        ("tr", "%50 indirim.", "yüzde elli indirim."),
        ("ja", "今日は2024年です。", "今日は二千二十四年です。"),
    ],
)
def test_other_languages_normalisation(language: str, text: str, expected: str) -> None:
    assert normalize(text, language) == expected


def test_languages_without_num2words_keep_their_digits() -> None:
    # XTTS's own Chinese cleaner reads digits; num2words has no Chinese.
    assert normalize("我有3个苹果。", "zh-cn") == "我有3个苹果。"


def test_very_long_numbers_are_read_digit_by_digit_in_groups_of_four() -> None:
    spoken = normalize("Card 12345678901234567890.", "en")
    assert spoken == (
        "Card one two three four, five six seven eight, nine zero one two, "
        "three four five six, seven eight nine zero."
    )


def test_long_numbers_keep_the_groups_they_are_written_in() -> None:
    spoken = normalize("IBAN 1234 5678 and 12,345,678,901,234,567,890.", "en")
    assert spoken.endswith(
        "one two, three four five, six seven eight, nine zero one, two three four, "
        "five six seven, eight nine zero."
    )


def test_five_thousand_digits_give_a_short_spoken_text() -> None:
    spoken = normalize(f"The number is {'3141592653' * 500}.", "en")
    read, more = spoken.split(", and ")
    assert read.startswith(
        "The number is three one four one, five nine two six, five three three one"
    )
    assert read.count(",") == 11  # twelve groups of four: 48 digits read, the rest counted
    assert more == "four thousand, nine hundred and fifty-two more digits."
    assert len(spoken) < 400


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_five_thousand_digits_give_a_short_spoken_text_in_every_language(language: str) -> None:
    assert len(normalize("9" * 5000, language)) < 600
    assert len(split_for_model("9" * 5000, language)) <= 3


def test_a_table_of_figures_is_read_digit_by_digit_rather_than_grow_sevenfold() -> None:
    table = "777,777 " * 100  # as words, 72 characters for each 8 written ones
    spoken = normalize(table, "en")
    assert len(spoken) <= spoken_limit(len(table))
    assert spoken.startswith("seven seven seven, seven seven seven seven seven seven")


def test_a_few_figures_are_still_read_as_numbers() -> None:
    assert normalize("It was 777,777 miles.", "en") == (
        "It was seven hundred and seventy-seven thousand, seven hundred and seventy-seven miles."
    )


_NUMBERY_PIECES = st.sampled_from(
    list("0123456789 .,:;-%$€&+=@!?/ab") + ["Mr. ", "1st", "e.g. ", "777,777"]
)
numbery_text = st.lists(_NUMBERY_PIECES, max_size=200).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=numbery_text, language=languages)
def test_spoken_text_never_outgrows_its_limit(text: str, language: str) -> None:
    assert len(normalize(text, language)) <= spoken_limit(len(text))


def test_normalize_drops_emoji_and_keeps_words() -> None:
    assert normalize("Party 🎉🎉 time 👍🏽!", "en") == "Party time!"
