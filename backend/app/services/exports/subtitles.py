"""SRT and WebVTT for one chapter: one cue per sentence, timed from the chapter's audio."""

from __future__ import annotations

from html import escape

from app.services.exports.timeline import SentenceTiming


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _one_line(text: str) -> str:
    """A cue's text on one line (a blank line would end the cue)."""
    return " ".join(text.split())


def srt(sentences: list[SentenceTiming]) -> str:
    cues = (
        f"{n}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_one_line(s.text)}\n"
        for n, s in enumerate(sentences, start=1)
    )
    return "\n".join(cues)


def vtt(sentences: list[SentenceTiming]) -> str:
    cues = (
        f"\n{s.sentence_id}\n{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n"
        f"{escape(_one_line(s.text), quote=False)}\n"
        for s in sentences
    )
    return "WEBVTT\n" + "".join(cues)
