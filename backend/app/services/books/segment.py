"""Paragraph text → sentences, language-aware (pysbd), with a rule-based fallback.

pysbd knows 23 languages; for the others a conservative regex splits after sentence-final
punctuation followed by whitespace (or after CJK full stops). Very long "sentences" (lists,
run-on text without punctuation) are cut at clause boundaries so the reader can highlight and
the speech service can start quickly.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd
from pysbd.languages import LANGUAGE_CODES

DEFAULT_LANGUAGE = "en"
MAX_SENTENCE_CHARS = 600

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_FALLBACK_BOUNDARY = re.compile(
    r"(?<=[.!?…])[\"'”’»)\]]*\s+(?=\S)"  # Latin-style: punctuation (+ closing quotes) then space
    r"|(?<=[。！？])[」』”’）]*"  # CJK full stops need no space after them
)
_CLAUSE_BOUNDARY = re.compile(r"(?<=[;:,—–])\s+")
_WHITESPACE = re.compile(r"\s+")


def normalize_language(tag: str | None) -> str:
    """A BCP 47 tag ("en-US", "pt_BR") → its lower-case primary subtag ("en", "pt")."""
    if not tag or not _LANGUAGE_TAG.match(tag.strip()):
        return DEFAULT_LANGUAGE
    return re.split(r"[-_]", tag.strip())[0].lower()


def is_valid_language(tag: str) -> bool:
    return bool(_LANGUAGE_TAG.match(tag.strip()))


@lru_cache(maxsize=32)
def _segmenter(language: str) -> pysbd.Segmenter:
    return pysbd.Segmenter(language=language, clean=False)


# pysbd's time grows with the square of its input ("Mr. " x 20,000 took 41 s), so it only ever
# sees windows this long; the sentence a window cuts through is split again with the next window.
PYSBD_WINDOW_CHARS = 2000


def _pysbd_split(text: str, language: str) -> list[str]:
    """pysbd's sentences, window by window, so that the time is linear in the paragraph."""
    sentences: list[str] = []
    start = 0
    while start < len(text):
        window = text[start : start + PYSBD_WINDOW_CHARS]
        pieces, span = _pysbd_window(window, language), len(window)
        if start + span < len(text):  # its last sentence may go on past the window
            pieces = pieces[:-1] or [window[: _last_space(window)]]
            span = _span_of(pieces, window)
            if not span:  # nothing but spaces before the cut: take the window whole
                pieces, span = [window], len(window)
        sentences.extend(pieces)
        start += span
    return sentences


def _pysbd_window(text: str, language: str) -> list[str]:
    """pysbd's sentences, used only if together they are exactly the text (else the fallback).

    Calls the processor directly: Segmenter.segment() then maps every sentence back onto the
    text with a freshly compiled regex each (a third of its time), and silently drops any
    sentence it cannot find there.
    """
    sentences = _segmenter(language).processor(text).process()
    if "".join(sentences).replace(" ", "") != text.replace(" ", ""):
        return _fallback_split(text)
    return sentences


def _last_space(window: str) -> int:
    """Where to cut a window that holds one unfinished sentence: at its last space."""
    space = window.rfind(" ")
    return space if space > 0 else len(window)


def _span_of(pieces: list[str], window: str) -> int:
    """How far into `window` the pieces reach (pysbd drops spaces, never other characters)."""
    wanted = sum(len(piece.replace(" ", "")) for piece in pieces)
    seen = 0
    for position, ch in enumerate(window):
        if ch != " ":
            seen += 1
            if seen == wanted:
                return position + 1
    return 0


def _fallback_split(text: str) -> list[str]:
    pieces, start = [], 0
    for match in _FALLBACK_BOUNDARY.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    pieces.append(text[start:])
    return pieces


def _cut_long(sentence: str, limit: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Cut an over-long sentence at clause boundaries, else at spaces, else hard."""
    if len(sentence) <= limit:
        return [sentence]
    parts: list[str] = []
    current = ""
    for clause in _CLAUSE_BOUNDARY.split(sentence):
        for word in _split_oversized(clause, limit):
            candidate = f"{current} {word}" if current else word
            if len(candidate) <= limit:
                current = candidate
            else:
                parts.append(current)
                current = word
    if current:
        parts.append(current)
    return [p for p in parts if p]


def _split_oversized(clause: str, limit: int) -> list[str]:
    if len(clause) <= limit:
        return [clause]
    words = clause.split(" ")
    if max(len(w) for w in words) <= limit:
        return _pack(words, limit)
    return [clause[i : i + limit] for i in range(0, len(clause), limit)]


def _pack(words: list[str], limit: int) -> list[str]:
    out, current = [], ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            out.append(current)
            current = word
    out.append(current)
    return [w for w in out if w]


def split_sentences(paragraph: str, language: str = DEFAULT_LANGUAGE) -> list[str]:
    """The sentences of one paragraph, whitespace-normalised, none empty."""
    text = _WHITESPACE.sub(" ", paragraph).strip()
    if not text:
        return []
    lang = normalize_language(language)
    raw = _pysbd_split(text, lang) if lang in LANGUAGE_CODES else _fallback_split(text)
    sentences: list[str] = []
    for piece in raw:
        piece = piece.strip()
        if piece:
            sentences.extend(_cut_long(piece))
    return sentences
