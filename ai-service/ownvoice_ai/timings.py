"""Word timings of a text in audio of it: the recognised words (with times) mapped onto the
words of the source text, so that "1851" said as "eighteen fifty-one" still gets a time.

Source words are the text's whitespace-separated tokens (punctuation stays with its word).
Words the recogniser heard alike are matched one to one; a run of source words heard
differently (numbers, abbreviations, misrecognitions) shares the time of the words heard in
its place; a run heard not at all shares the gap between its neighbours.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


def normalise(word: str) -> str:
    """A word as compared with what was heard: lower case, letters and digits only."""
    return re.sub(r"[^\w]", "", word.lower())


@dataclass
class TimedWord:
    text: str
    char_start: int  # in the source text
    char_end: int
    start: float
    end: float

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
        }


def _spread(
    tokens: list[re.Match[str]], start: float, end: float
) -> list[tuple[re.Match[str], float, float]]:
    """Share [start, end] among `tokens` in proportion to their length."""
    total = sum(len(t.group()) for t in tokens) or 1
    out, at = [], start
    for token in tokens:
        step = (end - start) * len(token.group()) / total
        out.append((token, at, at + step))
        at += step
    return out


def map_words(text: str, heard: list[tuple[str, float, float]], duration: float) -> list[TimedWord]:
    """Each word of `text` with its (start, end) seconds; monotonic and inside [0, duration]."""
    tokens = list(re.finditer(r"\S+", text))
    source = [normalise(t.group()) for t in tokens]
    target = [normalise(w) for w, _, _ in heard]
    timed: list[tuple[re.Match[str], float, float]] = []
    opcodes = difflib.SequenceMatcher(None, source, target, autojunk=False).get_opcodes()
    for index, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op == "insert":
            continue  # heard but not in the text (e.g. a filler): its time goes to no word
        if j2 > j1:
            start, end = heard[j1][1], heard[j2 - 1][2]
        else:  # not heard: the gap between the neighbours
            start = timed[-1][2] if timed else 0.0
            end = _next_start(opcodes[index + 1 :], heard, duration)
        if op == "equal":
            timed += [(tokens[i1 + k], *heard[j1 + k][1:]) for k in range(i2 - i1)]
        else:
            timed += _spread(tokens[i1:i2], start, end)
    return _monotonic(timed, duration)


def _next_start(
    rest: list[tuple[str, int, int, int, int]], heard: list[tuple[str, float, float]], end: float
) -> float:
    for _, _, _, j1, j2 in rest:
        if j2 > j1:
            return heard[j1][1]
    return end


def _monotonic(timed: list[tuple[re.Match[str], float, float]], duration: float) -> list[TimedWord]:
    words, floor = [], 0.0
    for token, start, end in timed:
        start = min(max(start, floor), duration)
        end = min(max(end, start), duration)
        words.append(TimedWord(token.group(), token.start(), token.end(), start, end))
        floor = end
    return words
