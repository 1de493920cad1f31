"""The one rule for unspeakable fragments: they never stand alone as a sentence or paragraph.

A piece of text with no letter or digit in it (a lone closing quote, "* * *", "—") has nothing
a voice can say: as a sentence of its own it would be an empty highlight for the reader and a
sentence the speech service refuses. Such a fragment joins its neighbour instead: the previous
piece, or the next one when it comes first. Nothing is dropped, so the text a reader sees
stays whole.
"""

from __future__ import annotations

import re

_SPEAKABLE = re.compile(r"[^\W_]")  # any letter or digit, in any script


def is_speakable(text: str) -> bool:
    return _SPEAKABLE.search(text) is not None


def join_unspeakable(pieces: list[str], source: str | None = None) -> list[str]:
    """`pieces` with every unspeakable one joined to a neighbour; all unspeakable: one piece.

    With `source` (the text the pieces were cut from, in order), a joined piece is the exact
    slice of `source` it spans, so no space is added or lost between a sentence and its quote.
    """
    if all(is_speakable(piece) for piece in pieces):
        return pieces
    spans = _spans(pieces, source)
    merged: list[tuple[int, int]] = []  # indexes into `pieces`: first and last of each group
    carry: int | None = None  # the start of unspeakable pieces waiting for the next one
    for index, piece in enumerate(pieces):
        if is_speakable(piece):
            merged.append((index if carry is None else carry, index))
            carry = None
        elif merged:
            merged[-1] = (merged[-1][0], index)
        elif carry is None:
            carry = index
    if carry is not None:  # nothing speakable at all: keep the text as one piece
        merged.append((carry, len(pieces) - 1))
    return [_joined(pieces, spans, source, first, last) for first, last in merged]


def _spans(pieces: list[str], source: str | None) -> list[tuple[int, int]] | None:
    """Where each piece lies in `source`, searched in order; None if one is not found."""
    if source is None:
        return None
    spans, cursor = [], 0
    for piece in pieces:
        start = source.find(piece, cursor)
        if start < 0:
            return None
        spans.append((start, start + len(piece)))
        cursor = start + len(piece)
    return spans


def _joined(
    pieces: list[str],
    spans: list[tuple[int, int]] | None,
    source: str | None,
    first: int,
    last: int,
) -> str:
    if first == last:
        return pieces[first]
    if spans is not None and source is not None:
        return source[spans[first][0] : spans[last][1]]
    return " ".join(pieces[first : last + 1])
