"""How well rendered sentences were heard: the counts of a render job, of a book, of a chapter.

The inference service hears every sentence it renders ahead (docs/API.md, "Verification") and
the app server hears every live sentence after it played (app.services.heard_speech). Each
cache entry keeps what was heard (`verification`, `words`); this module turns those verdicts
into a summary:

    {checked, passed_first_take, regenerated, failed, failed_sentences: [...]}

`checked` counts sentences heard; of them `passed_first_take` passed on their first take,
`regenerated` passed on a later one (a retake in the batch, or a live take replaced), and
`failed` never passed (kept with their best take). A text that repeats stands for all of its
sentences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.book import Sentence


def heard_of(event: dict[str, Any]) -> dict[str, Any] | None:
    """What a /generate/batch item (or a /verify answer) says was heard: the part of it a cache
    entry keeps. None when it carries no verification (verification off)."""
    verification = event.get("verification")
    if not isinstance(verification, dict):
        return None
    heard: dict[str, Any] = {"verification": verification}
    if isinstance(event.get("words"), list):
        heard["words"] = event["words"]
    return heard


def outcome(verification: dict[str, Any] | None) -> str | None:
    """passed_first_take | regenerated | failed, or None for a sentence not heard."""
    if not verification or not verification.get("checked"):
        return None
    if not verification.get("passed"):
        return "failed"
    retaken = (verification.get("takes") or 1) > 1 or verification.get("regenerated")
    return "regenerated" if retaken else "passed_first_take"


@dataclass
class Tally:
    """A running summary; failures are kept by text (the ids are looked up when reported)."""

    checked: int = 0
    passed_first_take: int = 0
    regenerated: int = 0
    failed: int = 0
    failed_texts: list[dict[str, Any]] = field(default_factory=list)

    def add(self, text: str, verification: dict[str, Any] | None, sentences: int = 1) -> None:
        kind = outcome(verification)
        if kind is None:
            return
        assert verification is not None
        self.checked += sentences
        setattr(self, kind, getattr(self, kind) + sentences)
        if kind == "failed":
            self.failed_texts.append(
                {"text": text, "cer": verification.get("cer"), "takes": verification.get("takes")}
            )

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, stored: str | None) -> Tally:
        if not stored:
            return cls()
        try:
            return cls(**json.loads(stored))
        except (ValueError, TypeError):
            return cls()

    def counts(self) -> dict[str, int]:
        return {
            "checked": self.checked,
            "passed_first_take": self.passed_first_take,
            "regenerated": self.regenerated,
            "failed": self.failed,
        }


def job_summary(db: Session, book_id: str, chapter_id: str | None, tally: Tally) -> dict:
    """A render job's summary: its failed texts as the sentences (ids) of its book or chapter."""
    texts = {failure["text"]: failure for failure in tally.failed_texts}
    query = select(Sentence.id, Sentence.text).order_by(Sentence.position)
    query = (
        query.where(Sentence.chapter_id == chapter_id)
        if chapter_id
        else query.where(Sentence.book_id == book_id)
    )
    failed = []
    if texts:
        for sentence_id, text in db.execute(query.where(Sentence.text.in_(list(texts)))):
            failure = texts[text]
            failed.append(failed_sentence(sentence_id, text, failure))
    return {**tally.counts(), "failed_sentences": failed}


def failed_sentence(sentence_id: str, text: str, verification: dict[str, Any]) -> dict:
    return {
        "sentence_id": sentence_id,
        "text": text,
        "cer": verification.get("cer"),
        "takes": verification.get("takes"),
    }


@dataclass
class SentenceHeard:
    """One sentence of a book and what its cache entry says was heard (None: not cached)."""

    sentence_id: str
    chapter_id: str
    text: str
    heard: dict[str, Any] | None


def summarize(sentences: list[SentenceHeard]) -> dict:
    """The summary of these sentences as their cache entries stand now."""
    tally = Tally()
    failed = []
    for sentence in sentences:
        verification = (sentence.heard or {}).get("verification")
        tally.add(sentence.text, verification)
        if outcome(verification) == "failed":
            assert verification is not None
            failed.append(failed_sentence(sentence.sentence_id, sentence.text, verification))
    cached = sum(1 for sentence in sentences if sentence.heard is not None)
    return {**tally.counts(), "cached": cached, "failed_sentences": failed}


def book_quality(chapters: list[tuple[str, str]], sentences: list[SentenceHeard]) -> dict:
    """The book's summary and each chapter's (`chapters`: id and title, in order)."""
    per_chapter: dict[str, list[SentenceHeard]] = {chapter_id: [] for chapter_id, _ in chapters}
    for sentence in sentences:
        per_chapter.setdefault(sentence.chapter_id, []).append(sentence)
    return {
        **summarize(sentences),
        "chapters": [
            {"chapter_id": chapter_id, "title": title, **summarize(per_chapter[chapter_id])}
            for chapter_id, title in chapters
        ],
    }
