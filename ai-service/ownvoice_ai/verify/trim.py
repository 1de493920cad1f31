"""Trim a take: silence at both ends down to a natural pause, and babble after the last word.

XTTS sometimes rambles on after a sentence (a mumbled repeat of its ending, or breathy noise).
Whatever sounds after the last word the recognizer matched to the text is cut: at the first
silence after that word when there is one, else LAST_WORD_OVERHANG after it. The cuts fade
(FADE_SECONDS), so no click is heard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_SECONDS = 0.01
SILENCE_DB = -40.0  # a frame this far below the loudest frame is silence
ABSOLUTE_SILENCE_RMS = 1e-4
MIN_GAP_SECONDS = 0.05  # a silence this long after the last word ends it
LEAD_PAUSE_SECONDS = 0.1  # the natural pause kept before the first sound ...
TAIL_PAUSE_SECONDS = 0.1  # ... and after the last
LAST_WORD_OVERHANG = 0.1  # sound running on without a gap is cut this long after the last word
MAX_AFTER_LAST_WORD = 0.15  # where babble follows, at most this much is kept after the last word
FADE_SECONDS = 0.01


@dataclass(frozen=True)
class Cut:
    """Keep [start, end) seconds of the take."""

    start: float
    end: float


def sounding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per FRAME_SECONDS frame: is anything heard?"""
    frame = max(1, int(FRAME_SECONDS * sample_rate))
    count = len(audio) // frame
    if count == 0:
        return np.zeros(0, dtype=bool)
    frames = np.asarray(audio[: count * frame], dtype=np.float64).reshape(count, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    floor = max(float(rms.max()) * 10 ** (SILENCE_DB / 20), ABSOLUTE_SILENCE_RMS)
    return rms > floor


def find_cut(audio: np.ndarray, sample_rate: int, last_word_end: float | None) -> Cut:
    """Where to cut: leading and trailing silence to a pause; babble after `last_word_end` (the
    end of the last word heard as the text, in seconds; None when no word was) removed."""
    duration = len(audio) / sample_rate
    sound = sounding(audio, sample_rate)
    if not sound.any():
        return Cut(0.0, duration)
    first = int(np.argmax(sound)) * FRAME_SECONDS
    last = (len(sound) - int(np.argmax(sound[::-1]))) * FRAME_SECONDS
    start = max(0.0, first - LEAD_PAUSE_SECONDS)
    end = min(duration, last + TAIL_PAUSE_SECONDS)
    if last_word_end is not None and last > last_word_end + LAST_WORD_OVERHANG:
        end = min(end, _end_of_speech(sound, last_word_end))
    return Cut(start, max(end, start))


def _end_of_speech(sound: np.ndarray, last_word_end: float) -> float:
    """Sound continues past the last word: end at its first gap, else soon after the word, and
    keep a pause only as long as it is silent."""
    begin = int(last_word_end / FRAME_SECONDS)
    limit = int((last_word_end + LAST_WORD_OVERHANG) / FRAME_SECONDS)
    gap = max(1, int(round(MIN_GAP_SECONDS / FRAME_SECONDS)))
    stop = limit
    for index in range(begin, min(limit, len(sound))):
        if not sound[index : index + gap].any():
            stop = index
            break
    pause_end = stop
    while (
        pause_end < len(sound)
        and not sound[pause_end]
        and pause_end - stop < int(TAIL_PAUSE_SECONDS / FRAME_SECONDS)
    ):
        pause_end += 1
    return min(pause_end * FRAME_SECONDS, last_word_end + MAX_AFTER_LAST_WORD)


def apply_cut(audio: np.ndarray, sample_rate: int, cut: Cut) -> np.ndarray:
    """The kept part, faded in and out over FADE_SECONDS where the cut falls."""
    start = int(round(cut.start * sample_rate))
    end = min(len(audio), int(round(cut.end * sample_rate)))
    kept = np.array(audio[start:end], dtype=np.float32)
    fade = min(int(FADE_SECONDS * sample_rate), len(kept) // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
        if start > 0:
            kept[:fade] *= ramp
        if end < len(audio):
            kept[-fade:] *= ramp[::-1]
    return kept
