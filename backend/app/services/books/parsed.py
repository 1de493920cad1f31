"""What every importer produces: a format-independent book, before it is stored."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.services.errors import DomainError


class BookImportError(DomainError):
    """A book the user sent cannot be imported; `status_code` is the HTTP answer to give."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def text_too_long(chars: int, limit: int) -> BookImportError:
    return BookImportError(
        413,
        f"This book has more than {limit:,} characters of text (at least {chars:,}); "
        f"at most {limit:,} are accepted. Split it into several books.",
    )


class ImportDeadline:
    """The time one import may take; `check()` between steps refuses a book that runs past it."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def check(self) -> None:
        if self._clock() >= self._end:
            raise BookImportError(
                422,
                f"This book took too long to read (more than {self.seconds:g} seconds), so the "
                "import was stopped. Check the file, or split the book into smaller parts.",
            )


@dataclass
class ParsedChapter:
    title: str
    paragraphs: list[str]
    front_matter: bool = False


@dataclass
class CoverImage:
    data: bytes
    media_type: str


@dataclass
class ParsedBook:
    title: str
    author: str | None
    language: str
    chapters: list[ParsedChapter] = field(default_factory=list)
    cover: CoverImage | None = None
