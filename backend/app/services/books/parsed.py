"""What every importer produces: a format-independent book, before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field


class BookImportError(Exception):
    """A book the user sent cannot be imported; `status_code` is the HTTP answer to give."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


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
