"""Text to speakable, model-sized chunks.

normalize → sentences (pysbd, language-aware) → clauses → words → hard cuts,
so that no chunk exceeds the model's per-language character limit or its
token budget. XTTS asserts on more than 400 text tokens and garbles text past
its character limits, so every path through here ends inside both limits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import num2words as num2words_module
import pysbd
from num2words import num2words

# XTTS v2's per-language limits (TTS/tts/layers/xtts/tokenizer.py, char_limits).
CHAR_LIMITS: dict[str, int] = {
    "en": 250,
    "de": 253,
    "fr": 273,
    "es": 239,
    "it": 213,
    "pt": 203,
    "pl": 224,
    "tr": 226,
    "ru": 182,
    "nl": 251,
    "cs": 186,
    "ar": 166,
    "zh-cn": 82,
    "ja": 71,
    "hu": 224,
    "ko": 95,
    "hi": 150,
}
SUPPORTED_LANGUAGES = tuple(CHAR_LIMITS)
DEFAULT_CHAR_LIMIT = 250  # XTTS's own fallback for a language it has no limit for
DEFAULT_MAX_TOKENS = 400

TokenCounter = Callable[[str], int]


def language_code(language: str) -> str:
    """`en-US` → `en`, `zh`/`zh_CN` → `zh-cn`: the codes XTTS uses."""
    code = language.strip().lower().replace("_", "-")
    if code.startswith("zh"):
        return "zh-cn"
    return code.split("-")[0] or "en"


def char_limit(language: str) -> int:
    return CHAR_LIMITS.get(language_code(language), DEFAULT_CHAR_LIMIT)


# --- public entry points --------------------------------------------------------


def split_for_model(
    text: str,
    language: str,
    count_tokens: TokenCounter | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    *,
    normalize_text: bool = True,
) -> list[str]:
    """Normalised chunks, each within `char_limit(language)` characters and,
    when `count_tokens` is given, within `max_tokens` tokens. Never empty chunks."""
    limit = char_limit(language)

    def fits(chunk: str) -> bool:
        return len(chunk) <= limit and (count_tokens is None or count_tokens(chunk) <= max_tokens)

    if normalize_text:
        text = normalize(text, language)
    chunks: list[str] = []
    for sentence in sentences(text, language):
        for piece in _fit(_neutralize_ending(sentence), fits):
            chunks.extend(_finished(piece, fits))
    return chunks


def sentences(text: str, language: str) -> list[str]:
    """Plain sentence splitting; paragraph breaks always end a sentence."""
    result: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if paragraph:
            result.extend(_paragraph_sentences(paragraph, language))
    return result


# --- normalisation -------------------------------------------------------------------

_NUM2WORDS_LANGUAGE = {code: code for code in SUPPORTED_LANGUAGES} | {"zh-cn": None, "hi": None}

_ABBREVIATIONS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Mrs.", "Misses"),
        ("Mr.", "Mister"),
        ("Ms.", "Miz"),
        ("Dr.", "Doctor"),
        ("Prof.", "Professor"),
        ("Jr.", "Junior"),
        ("Sr.", "Senior"),
        ("Capt.", "Captain"),
        ("Col.", "Colonel"),
        ("Gen.", "General"),
        ("Lt.", "Lieutenant"),
        ("Sgt.", "Sergeant"),
        ("Gov.", "Governor"),
        ("Rev.", "Reverend"),
        ("Hon.", "Honorable"),
        ("Mt.", "Mount"),
        ("Ft.", "Fort"),
        ("vs.", "versus"),
        ("e.g.", "for example"),
        ("i.e.", "that is"),
        ("approx.", "approximately"),
        ("Jan.", "January"),
        ("Feb.", "February"),
        ("Aug.", "August"),
        ("Sept.", "September"),
        ("Oct.", "October"),
        ("Nov.", "November"),
        ("Dec.", "December"),
    ],
    "de": [
        ("z.B.", "zum Beispiel"),
        ("z. B.", "zum Beispiel"),
        ("d.h.", "das heißt"),
        ("usw.", "und so weiter"),
        ("bzw.", "beziehungsweise"),
        ("Dr.", "Doktor"),
        ("Prof.", "Professor"),
        ("Hr.", "Herr"),
        ("Fr.", "Frau"),
        ("Nr.", "Nummer"),
        ("ca.", "circa"),
    ],
    "fr": [
        ("M.", "Monsieur"),
        ("Mme", "Madame"),
        ("Mlle", "Mademoiselle"),
        ("Dr", "Docteur"),
        ("etc.", "et cetera"),
    ],
    "es": [
        ("Sra.", "señora"),
        ("Sr.", "señor"),
        ("Dr.", "doctor"),
        ("Dra.", "doctora"),
        ("etc.", "etcétera"),
    ],
    "it": [("Sig.ra", "signora"), ("Sig.", "signor"), ("Dott.", "dottor"), ("ecc.", "eccetera")],
    "pt": [("Sra.", "senhora"), ("Sr.", "senhor"), ("Dr.", "doutor"), ("etc.", "etcétera")],
    "nl": [("dhr.", "de heer"), ("mevr.", "mevrouw"), ("bijv.", "bijvoorbeeld")],
}
_AND_WORD = {
    "en": "and",
    "de": "und",
    "fr": "et",
    "es": "y",
    "it": "e",
    "pt": "e",
    "pl": "i",
    "tr": "ve",
    "ru": "и",
    "nl": "en",
    "cs": "a",
    "hu": "és",
}
_PERCENT_WORD = {
    "en": "percent",
    "de": "Prozent",
    "fr": "pour cent",
    "es": "por ciento",
    "it": "per cento",
    "pt": "por cento",
    "pl": "procent",
    "ru": "процентов",
    "nl": "procent",
    "cs": "procent",
    "hu": "százalék",
}
_CURRENCY_CODES = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_ENGLISH_CURRENCY = {
    "USD": (("dollar", "dollars"), ("cent", "cents")),
    "EUR": (("euro", "euros"), ("cent", "cents")),
    "GBP": (("pound", "pounds"), ("penny", "pence")),
    "JPY": (("yen", "yen"), ("sen", "sen")),
    "INR": (("rupee", "rupees"), ("paisa", "paise")),
}
# Languages that write 1.234,5 rather than 1,234.5.
_COMMA_DECIMAL = {"de", "fr", "es", "it", "pt", "pl", "tr", "ru", "nl", "cs", "hu"}
_ORDINAL_PATTERNS = {
    "en": r"(\d+)(?:st|nd|rd|th)\b",
    "fr": r"(\d+)(?:er|re|e|ème|eme)\b",
    "es": r"(\d+)\.?[ºª°]",
    "it": r"(\d+)[ºª°]",
    "pt": r"(\d+)\.?[ºª°]",
    # German marks ordinals with a full stop: "am 3. Mai", "der 2. Versuch".
    "de": r"(\d+)\.(?=\s+(?:Januar|Februar|März|April|Mai|Juni|Juli|August|September"
    r"|Oktober|November|Dezember|[a-zäöüß]))",
}
# Scripts written without spaces between words.
_NO_SPACE_LANGUAGES = {"ja", "zh-cn"}
# Characters nobody can pronounce: markup leftovers and emoji glue.
_UNSPOKEN_PUNCTUATION = set("*_#~|\\^`<>{}[]")
_MAX_NUMBER_DIGITS = 15  # beyond this, a number is an identifier: read it digit by digit
# How long digit runs are read (README, "Limits and security"): like a card or account number,
# digit by digit in groups of four (or in the groups it is written in), a pause between groups;
# past 48 digits a listener can follow no more, so the rest is only counted ("and 952 more digits").
_DIGIT_GROUP = 4
_MAX_READ_DIGITS = 48
_LONG_DIGIT_RUN = re.compile(rf"\d{{{_MAX_NUMBER_DIGITS + 1},}}")
_DIGIT_RUN = re.compile(r"\d+")
_MORE_DIGITS = {
    "en": "and {} more digits",
    "de": "und {} weitere Ziffern",
    "fr": "et {} chiffres de plus",
    "es": "y {} dígitos más",
    "it": "e altre {} cifre",
    "pt": "e mais {} dígitos",
    "nl": "en nog {} cijfers",
}
# Spoken text is at most this many times as long as the written text (plus a little slack for a
# lone "7" → "seven"). With the engine's per-chunk token budget this bounds each request's audio.
MAX_SPOKEN_EXPANSION = 6
SPOKEN_SLACK_CHARS = 40


def normalize(text: str, language: str) -> str:
    """Spell out what a speech model cannot read: numbers, currency, ordinals,
    abbreviations, symbols; drop emoji and other unspeakable characters.

    Linear in the text, and never longer than `spoken_limit(len(text))`: where spelling numbers
    out as words would pass it (a table of figures), every number is read digit by digit instead,
    and what still does not fit is cut off there."""
    lang = language_code(language)
    limit = spoken_limit(len(text))
    spoken = _normalize(text, lang, compact=False)
    if len(spoken) > limit:
        spoken = _normalize(text, lang, compact=True)
    return spoken if len(spoken) <= limit else _cut_at_word(spoken, limit)


def spoken_limit(written_chars: int) -> int:
    """The most characters of speakable text that `written_chars` characters may turn into."""
    return MAX_SPOKEN_EXPANSION * written_chars + SPOKEN_SLACK_CHARS


def _cut_at_word(text: str, limit: int) -> str:
    cut = text.rfind(" ", 0, limit + 1)
    return text[: cut if cut > 0 else limit].rstrip()


def _normalize(text: str, lang: str, *, compact: bool) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u00a0", " ").replace("\u202f", " ")
    text = _LONG_DIGIT_RUN.sub(lambda m: _digit_groups(m.group(0), lang), text)
    if compact:
        text = _DIGIT_RUN.sub(lambda m: _digit_groups(m.group(0), lang), text)
    text = _expand_abbreviations(text, lang)
    text = _expand_currency(text, lang)
    text = _expand_percent(text, lang)
    text = _expand_ordinals(text, lang)
    if lang == "en":
        text = _expand_times_en(text)
        text = _expand_ranges_and_signs_en(text)
        text = _expand_years_en(text)
    text = _expand_dotted_numbers(text, lang)
    text = _expand_numbers(text, lang)
    text = _expand_symbols(text, lang)
    text = _drop_unspeakable(text)
    return _tidy_spaces(text)


def _expand_abbreviations(text: str, lang: str) -> str:
    for short, long in _ABBREVIATIONS.get(lang, []):
        text = re.sub(rf"(?<!\w){re.escape(short)}(?=\s|$)", long, text)
    if lang == "en":
        # "Baker St." (after a name) is a street, "on St. Paul" a saint.
        text = re.sub(r"\b([A-Z][a-z]+) St\.(?=\s+[A-Z]|\s*$)", r"\1 Street.", text)
        text = re.sub(r"\b([A-Z][a-z]+) St\.", r"\1 Street", text)
        text = re.sub(r"(?<!\w)St\.", "Saint", text)
        # "etc." keeps its full stop only where it ends the sentence.
        text = re.sub(r"(?<!\w)etc\.(?=\s+[A-Z]|\s*$)", "et cetera.", text)
        text = re.sub(r"(?<!\w)etc\.", "et cetera", text)
        text = re.sub(r"(?<!\w)No\.(?=\s*\d)", "number", text)
    return text


def _number_words(number: int | Decimal, lang: str, **kwargs: str) -> str | None:
    """num2words for the language, or None where it lacks the language or the form."""
    n2w_lang = _NUM2WORDS_LANGUAGE.get(lang)
    if n2w_lang is None:
        return None
    # Keyed by the written form: Decimal("2.0") == 2, but num2words reads them differently.
    decimal = isinstance(number, Decimal)
    return _cached_number_words(decimal, str(number), n2w_lang, tuple(sorted(kwargs.items())))


@lru_cache(maxsize=4096)  # num2words takes about half a millisecond a call; digits repeat a lot
def _cached_number_words(
    decimal: bool, written: str, n2w_lang: str, kwargs: tuple[tuple[str, str], ...]
) -> str | None:
    try:
        return str(num2words((Decimal if decimal else int)(written), lang=n2w_lang, **dict(kwargs)))
    except (NotImplementedError, OverflowError, TypeError, ValueError, KeyError, IndexError):
        return None


def _parse_number(raw: str, lang: str) -> Decimal | None:
    """'1,234.5' (en) or '1.234,5' (de) → Decimal; None if it is not one number."""
    raw = raw.replace(" ", "")
    raw = raw.replace(".", "").replace(",", ".") if lang in _COMMA_DECIMAL else raw.replace(",", "")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


# A match may start only where a number starts (not inside digits or after "1,"): each number is
# then tried once, so the patterns stay linear on long runs of digits and separators.
_NUMBER_START = r"(?<!\d)(?<!\d[.,])"
_AMOUNT = r"\d{1,3}(?:[,.]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"


def _expand_currency(text: str, lang: str) -> str:
    def spoken(symbol: str, raw: str, original: str) -> str:
        amount = _parse_number(raw, lang) if _digit_count(raw) <= _MAX_NUMBER_DIGITS else None
        if amount is None:
            return original
        words = _currency_words(amount, _CURRENCY_CODES[symbol], lang)
        return f" {words} " if words else original

    symbols = re.escape("".join(_CURRENCY_CODES))
    text = re.sub(
        rf"([{symbols}])\s?({_AMOUNT})",
        lambda m: spoken(m.group(1), m.group(2), m.group(0)),
        text,
    )
    return re.sub(
        rf"{_NUMBER_START}({_AMOUNT})\s?([{symbols}])",
        lambda m: spoken(m.group(2), m.group(1), m.group(0)),
        text,
    )


def _currency_words(amount: Decimal, code: str, lang: str) -> str | None:
    whole = int(amount)
    cents = int(((amount - whole) * 100).quantize(Decimal(1)))
    if lang == "en":
        (unit, units), (cent, cents_name) = _ENGLISH_CURRENCY[code]
        whole_words = f"{_number_words(whole, lang)} {unit if whole == 1 else units}"
        cent_words = f"{_number_words(cents, lang)} {cent if cents == 1 else cents_name}"
        if not cents:
            return whole_words
        return cent_words if whole == 0 else f"{whole_words}, {cent_words}"
    if cents:
        return _number_words(amount, lang, to="currency", currency=code)
    number = _number_words(whole, lang)
    converter = num2words_module.CONVERTER_CLASSES.get(lang)
    forms = getattr(converter, "CURRENCY_FORMS", {}).get(code)
    if number is None or forms is None:
        return None
    try:
        return f"{number} {converter.pluralize(whole, forms[0])}"
    except (NotImplementedError, IndexError, TypeError):
        return None


def _expand_percent(text: str, lang: str) -> str:
    if lang == "tr":  # Turkish writes the sign first: %50 is "yüzde elli"
        return re.sub(r"%\s?(\d+)", lambda m: f"yüzde {m.group(1)}", text)
    word = _PERCENT_WORD.get(lang)
    if word is None:
        return text

    def spoken(match: re.Match[str]) -> str:
        raw = match.group(1)
        amount = _parse_number(raw, lang) if _digit_count(raw) <= _MAX_NUMBER_DIGITS else None
        words = _number_words(amount, lang) if amount is not None else None
        return f"{words} {word}" if words else match.group(0)

    return re.sub(rf"{_NUMBER_START}(\d+(?:[.,]\d+)?)\s?%", spoken, text)


def _expand_ordinals(text: str, lang: str) -> str:
    pattern = _ORDINAL_PATTERNS.get(lang)
    if pattern is None:
        return text
    return re.sub(
        _NUMBER_START + pattern,
        lambda m: _number_words(int(m.group(1)), lang, to="ordinal") or m.group(0),
        text,
    )


def _expand_times_en(text: str) -> str:
    def spoken(match: re.Match[str]) -> str:
        hours, minutes = int(match.group(1)), int(match.group(2))
        if hours > 24 or minutes > 59:
            return match.group(0)
        if minutes == 0:
            return f"{num2words(hours)} o'clock"
        if minutes < 10:
            return f"{num2words(hours)} oh {num2words(minutes)}"
        return f"{num2words(hours)} {num2words(minutes)}"

    return re.sub(r"\b(\d{1,2}):(\d{2})\b(?!:)", spoken, text)


def _expand_ranges_and_signs_en(text: str) -> str:
    # "1990-2000" and "pages 10–12" are ranges; "-5" before a number is minus.
    text = re.sub(r"(?<=\d)\s?[-–]\s?(?=\d)", " to ", text)
    return re.sub(r"(?<![\w.])[-−](?=\d)", "minus ", text)


def _expand_years_en(text: str) -> str:
    # A bare four-digit number from 1100 to 2099 reads as a year: "in 1984".
    return re.sub(
        r"(?<![\d.,])\b(1[1-9]\d\d|20\d\d)\b(?![.,]?\d)",
        lambda m: num2words(int(m.group(1)), to="year"),
        text,
    )


def _expand_numbers(text: str, lang: str) -> str:
    if lang in _COMMA_DECIMAL:
        pattern = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+,\d+|\d+"
    else:
        pattern = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+"

    def spoken(match: re.Match[str]) -> str:
        raw = match.group(0)
        if _digit_count(raw) > _MAX_NUMBER_DIGITS or (
            len(raw) > 1 and raw.isdigit() and raw[0] == "0"
        ):
            return _digit_by_digit(raw, lang)
        amount = _parse_number(raw, lang)
        words = _number_words(amount, lang) if amount is not None else None
        return _spaced(words, lang) if words else raw

    return re.sub(pattern, spoken, text)


def _digit_count(raw: str) -> int:
    return sum(ch.isdigit() for ch in raw)


def _expand_dotted_numbers(text: str, lang: str) -> str:
    """Versions and dates like 1.5.2 or 24.12.2024: each part on its own, no full stops
    left behind for the sentence splitter to trip on."""
    joiner = " point " if lang == "en" else " "

    def spoken(match: re.Match[str]) -> str:
        parts = [_number_words(int(part), lang) or part for part in match.group(0).split(".")]
        return _spaced(joiner.join(parts), lang)

    return re.sub(r"\b\d+(?:\.\d+){2,}\b", spoken, text)


def _digit_by_digit(raw: str, lang: str) -> str:
    if len(raw) > _DIGIT_GROUP or not raw.isdigit():
        return _digit_groups(raw, lang)
    return _spaced(_digit_words(raw, lang), lang)


def _digit_words(digits: str, lang: str) -> str:
    joiner = "" if lang in _NO_SPACE_LANGUAGES else " "
    return joiner.join(_number_words(int(ch), lang) or ch for ch in digits)


def _digit_groups(raw: str, lang: str) -> str:
    """A long number read the way a person reads an account number: group by group (its own
    groups, else fours), digit by digit; only the first `_MAX_READ_DIGITS`, then how many more."""
    groups = [
        run[i : i + _DIGIT_GROUP]
        for run in _DIGIT_RUN.findall(raw)
        for i in range(0, len(run), _DIGIT_GROUP)
    ]
    read, count = [], 0
    for group in groups:
        if count + len(group) > _MAX_READ_DIGITS:
            break
        read.append(_digit_words(group, lang))
        count += len(group)
    words = ("、" if lang in _NO_SPACE_LANGUAGES else ", ").join(read)
    rest = sum(len(group) for group in groups) - count
    if rest:
        more = _MORE_DIGITS.get(lang)
        words += f", {more.format(_number_words(rest, lang) or rest)}" if more else "…"
    return _spaced(words, lang)


def _spaced(words: str, lang: str) -> str:
    return words if lang in _NO_SPACE_LANGUAGES else f" {words} "


def _expand_symbols(text: str, lang: str) -> str:
    and_word = _AND_WORD.get(lang)
    if and_word:
        text = text.replace("&", f" {and_word} ")  # spaces are tidied later
    if lang == "en":
        text = re.sub(r"(?<=\w)\s*\+\s*(?=\w)", " plus ", text)
        text = re.sub(r"(?<=\w)\s*=\s*(?=\w)", " equals ", text)
        text = re.sub(r"(?<=\w)@(?=\w)", " at ", text)
    return text


def _drop_unspeakable(text: str) -> str:
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "\n\t" or not (
            category in {"So", "Sk", "Sm", "Co", "Cs", "Cn", "Cc", "Cf", "Me"}
            or ch in _UNSPOKEN_PUNCTUATION
            or 0xFE00 <= ord(ch) <= 0xFE0F  # emoji variation selectors
        ):
            kept.append(ch)
        else:
            kept.append(" ")
    return "".join(kept)


def _tidy_spaces(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" +([,.;:!?])", r"\1", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


# --- sentences -----------------------------------------------------------------------

# pysbd's closest ruleset for the XTTS languages it lacks.
_PYSBD_LANGUAGE = {
    "zh-cn": "zh",
    "pt": "es",
    "cs": "sk",
    "tr": "en",
    "hu": "en",
    "ko": "en",
}
_PYSBD_LANGUAGES = set(pysbd.languages.LANGUAGE_CODES)
_CJK_SENTENCE_END = re.compile(r"(?<=[。！？!?])(?![。！？!?」』”\"')）])")
_FALLBACK_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"'”’»」』)）]*\s+|(?<=[。！？])")


_LEADING_CLOSERS = re.compile(r"^[\"'”’»」』)）\]]+")


def _paragraph_sentences(paragraph: str, language: str) -> list[str]:
    found: list[str] = []
    for sentence in _pysbd_sentences(paragraph, language):
        for part in _CJK_SENTENCE_END.split(sentence):
            _append_sentence(found, part.strip())
    return found


def _append_sentence(found: list[str], sentence: str) -> None:
    """Closing quotes and stray punctuation belong to the sentence before them."""
    closers = _LEADING_CLOSERS.match(sentence)
    if found and closers:
        found[-1] += closers.group(0)
        sentence = sentence[closers.end() :].strip()
    if not sentence:
        return
    if found and not any(ch.isalnum() for ch in sentence):
        found[-1] += sentence
    else:
        found.append(sentence)


# pysbd's time grows with the square of its input (its abbreviation scan rereads the text), so
# it only ever sees windows this long; a sentence that a window cuts is read again by the next.
PYSBD_WINDOW_CHARS = 2000


def _pysbd_sentences(paragraph: str, language: str) -> list[str]:
    lang = language_code(language)
    pysbd_lang = _PYSBD_LANGUAGE.get(lang, lang)
    if pysbd_lang not in _PYSBD_LANGUAGES:
        pysbd_lang = "en"
    segmenter = pysbd.Segmenter(language=pysbd_lang, clean=False)
    found: list[str] = []
    start = 0
    while start < len(paragraph):
        window = paragraph[start : start + PYSBD_WINDOW_CHARS]
        pieces = _pysbd_window(segmenter, window)
        span = len(window)
        if start + span < len(paragraph):  # the last piece may run on past the window
            pieces = pieces[:-1] or [window[: _last_space(window)]]
            span = _span_of(pieces, window)
            if not span:  # nothing but spaces before the cut: take the window whole
                pieces, span = [window], len(window)
        found.extend(pieces)
        start += span
    return found


def _pysbd_window(segmenter: pysbd.Segmenter, window: str) -> list[str]:
    try:  # the processor alone: segment() maps each sentence back with a search of the whole window
        found = segmenter.processor(window).process()
    except Exception:  # pysbd has crashed on odd input before; a regex split is the fallback
        found = None
    # pysbd must never lose or invent text; if it did, fall back rather than drop words.
    if not found or _squeezed("".join(found)) != _squeezed(window):
        found = [piece for piece in _FALLBACK_SENTENCE_END.split(window) if piece]
    return found


def _last_space(window: str) -> int:
    """Where to cut a window that pysbd found one unfinished sentence in: its last space."""
    space = window.rfind(" ")
    return space if space > 0 else len(window)


def _span_of(pieces: list[str], window: str) -> int:
    """How far into `window` the pieces reach (pysbd may drop spaces, never other characters)."""
    wanted = len(_squeezed("".join(pieces)))
    if not wanted:
        return 0
    seen = 0
    for position, ch in enumerate(window):
        if not ch.isspace():
            seen += 1
            if seen == wanted:
                return position + 1
    return len(window)


def _squeezed(text: str) -> str:
    return "".join(text.split())


# --- fitting chunks to the model ----------------------------------------------------------

_CLAUSE_END = re.compile(
    r"[,;:…](?=\s)\s*"  # , ; : … before a space
    r"|\s[-–—]+\s+"  # a spaced dash
    r"|[—–]\s*"  # an unspaced em/en dash
    r"|[，；：、]\s*"  # CJK clause punctuation
)


def _fit(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Split at clauses, then words, then characters until every piece fits."""
    text = text.strip()
    if not text:
        return []
    if fits(text):
        return [text]
    for split in (_clauses, _words):
        pieces = split(text)
        if len(pieces) > 1:
            return _pack(pieces, fits)
    return _hard_cut(text, fits)


def _clauses(text: str) -> list[str]:
    return _cut_after(text, [match.end() for match in _CLAUSE_END.finditer(text)])


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def _cut_after(text: str, ends: list[int]) -> list[str]:
    pieces, start = [], 0
    for end in ends:
        if start < end < len(text):
            pieces.append(text[start:end])
            start = end
    pieces.append(text[start:])
    return [piece for piece in pieces if piece]


def _pack(pieces: list[str], fits: Callable[[str], bool]) -> list[str]:
    """Greedily join consecutive pieces while the joined text still fits."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if fits((current + piece).strip()):
            current += piece
            continue
        if current.strip():
            chunks.append(current.strip())
        if fits(piece.strip()):
            current = piece
        else:
            chunks.extend(_fit(piece, fits))
            current = ""
    if current.strip():
        chunks.append(current.strip())
    return chunks


def _hard_cut(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Last resort for a run with no spaces: the longest prefix that fits, repeatedly."""
    chunks = []
    start = 0
    while start < len(text):
        if not fits(text[start : start + 1]):
            raise ValueError(f"a single character {text[start]!r} exceeds the model's limits")
        # The longest prefix that fits: gallop to a length that does not, then bisect, so each
        # probe is at most twice the chunk it finds (not the whole remaining text).
        low, high = 1, 2
        while start + low < len(text) and fits(text[start : start + min(high, len(text) - start)]):
            low, high = min(high, len(text) - start), high * 2
        high = min(high, len(text) - start)
        while low < high:
            middle = (low + high + 1) // 2
            if fits(text[start : start + middle]):
                low = middle
            else:
                high = middle - 1
        chunks.append(text[start : start + low])
        start += low
        while start < len(text) and text[start].isspace():
            start += 1
    return chunks


# --- finishing touches ----------------------------------------------------------------------------

# XTTS tends to babble after a chunk that ends in a closing quote after ? or !,
# so the quote moves inside and the chunk ends on the punctuation itself.
_QUOTED_ENDING = re.compile(r"(?<![?!？！])([?!？！]+)([\"'”’»」』]+)\s*$")


def _neutralize_ending(text: str) -> str:
    return _QUOTED_ENDING.sub(r"\2\1", text.strip())


def _finished(chunk: str, fits: Callable[[str], bool]) -> Iterator[str]:
    """The chunk ready to speak, or nothing when there is nothing to say."""
    chunk = _neutralize_ending(chunk)
    if not any(ch.isalnum() for ch in chunk):
        return
    if fits(chunk):
        yield chunk
    else:  # removing a quote made a token counter count more: split again
        yield from (piece for piece in _fit(chunk, fits) if any(ch.isalnum() for ch in piece))
