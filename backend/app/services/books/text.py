"""Plain and pasted text → ParsedBook.

Chapters come from heading lines ("CHAPTER I.", "Chapter 2: The Pool", "Part One",
Markdown "# Title"), else from long runs of blank lines (three or more, as in Project
Gutenberg files), else the whole text is one chapter. Paragraphs are separated by blank
lines; hard-wrapped lines inside a paragraph are joined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.services.books.parsed import BookImportError, ParsedBook, ParsedChapter
from app.services.books.segment import normalize_language

MAX_TITLE_CHARS = 200
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|first|second|third|fourth|"
    "fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|last"
)
_NUMBER = rf"(?:\d{{1,4}}|[IVXLCDM]{{1,8}}|(?:{_NUMBER_WORDS})(?:[- ](?:{_NUMBER_WORDS}))?)"
_CHAPTER_HEADING = re.compile(
    rf"^(?:chapter|chapitre|kapitel|cap[ií]tulo|capitolo|hoofdstuk|part|book|section)\s+{_NUMBER}"
    r"\s*(?:[.:\-–—]\s*(?P<rest>.*))?$",
    re.IGNORECASE,
)
_MARKDOWN_HEADING = re.compile(r"^#{1,3}\s+(?P<title>\S.*?)\s*#*$")
_BLANK_RUN = re.compile(r"\n[ \t]*(?:\n[ \t]*){3,}")  # three or more blank lines
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# Project Gutenberg wraps every book in a licence header and footer that nobody wants read aloud.
_LINE_FLAGS = re.IGNORECASE | re.MULTILINE
_GUTENBERG_START = re.compile(r"^\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$", _LINE_FLAGS)
_GUTENBERG_END = re.compile(r"^\*\*\*\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$", _LINE_FLAGS)
_META_LINE = re.compile(r"^(title|author):\s*(.+)$", re.IGNORECASE | re.MULTILINE)


@dataclass
class _Section:
    title: str | None
    lines: list[str] = field(default_factory=list)


def decode_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BookImportError(
            415, "This text file is not UTF-8. Save it as UTF-8 and upload it again."
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _heading_title(lines: list[str], i: int) -> tuple[str, int] | None:
    """If line i is a chapter heading, its title and how many lines it used (1 or 2)."""
    line = lines[i]
    if line != line.lstrip() or len(line) > MAX_TITLE_CHARS:
        return None  # indented lines are table-of-contents entries, not headings
    if match := _MARKDOWN_HEADING.match(line):
        return match.group("title"), 1
    match = _CHAPTER_HEADING.match(line.strip())
    if not match:
        return None
    head = line.strip().rstrip(".:")
    if match.group("rest"):
        return head, 1
    subtitle = _subtitle(lines, i + 1)
    return (f"{head}: {subtitle}", 2) if subtitle else (head, 1)


def _subtitle(lines: list[str], j: int) -> str | None:
    """Gutenberg style puts the chapter name on the line right after "CHAPTER I."."""
    if j >= len(lines) or not lines[j].strip():
        return None
    followed_by_blank = j + 1 >= len(lines) or not lines[j + 1].strip()
    candidate = lines[j].strip()
    if followed_by_blank and len(candidate) <= 80 and not candidate.endswith((",", ";")):
        return candidate
    return None


def _split_by_headings(text: str) -> list[_Section]:
    lines = text.split("\n")
    sections = [_Section(title=None)]
    i = 0
    while i < len(lines):
        found = _heading_title(lines, i)
        if found:
            sections.append(_Section(title=found[0]))
            i += found[1]
            continue
        sections[-1].lines.append(lines[i])
        i += 1
    return sections


def _paragraphs(block: str) -> list[str]:
    out = []
    for para in _PARAGRAPH_BREAK.split(block):
        joined = " ".join(line.strip() for line in para.split("\n") if line.strip())
        if joined:
            out.append(joined)
    return out


def _chapters_from_headings(text: str) -> list[ParsedChapter] | None:
    sections = _split_by_headings(text)
    if len(sections) < 2:
        return None
    chapters = []
    preamble = _paragraphs("\n".join(sections[0].lines))
    if preamble:
        # Text before the first heading is a title page, a licence header or a contents list.
        chapters.append(ParsedChapter(title="Front matter", paragraphs=preamble, front_matter=True))
    for section in sections[1:]:
        paragraphs = _paragraphs("\n".join(section.lines))
        if paragraphs:  # a heading with no text under it is a contents entry
            chapters.append(ParsedChapter(title=section.title or "", paragraphs=paragraphs))
    return chapters


def _chapters_from_blank_runs(text: str) -> list[ParsedChapter] | None:
    blocks = [b for b in _BLANK_RUN.split(text) if b.strip()]
    if len(blocks) < 2:
        return None
    chapters = []
    for number, block in enumerate(blocks, start=1):
        paragraphs = _paragraphs(block)
        first = paragraphs[0]
        if len(paragraphs) > 1 and len(first) <= 80 and not first.endswith((".", ",", ";")):
            chapters.append(ParsedChapter(title=first, paragraphs=paragraphs[1:]))
        else:
            chapters.append(ParsedChapter(title=f"Part {number}", paragraphs=paragraphs))
    return chapters


def split_chapters(text: str, single_title: str) -> list[ParsedChapter]:
    chapters = _chapters_from_headings(text) or _chapters_from_blank_runs(text)
    if chapters and any(not c.front_matter for c in chapters):
        return chapters
    paragraphs = _paragraphs(text)
    return [ParsedChapter(title=single_title, paragraphs=paragraphs)] if paragraphs else []


def _metadata(text: str) -> dict[str, str]:
    head = text[:5000]  # Gutenberg puts "Title:" and "Author:" in its header
    return {
        m.group(1).lower(): m.group(2).strip() for m in reversed(list(_META_LINE.finditer(head)))
    }


def _without_gutenberg_wrapper(text: str) -> str:
    if start := _GUTENBERG_START.search(text):
        text = text[start.end() :]
    if end := _GUTENBERG_END.search(text):
        text = text[: end.start()]
    return text


def parse_text(
    text: str, title: str | None, language: str | None, fallback_title: str
) -> ParsedBook:
    """Build a book from text; `title` wins over a "Title:" line, which wins over `fallback_title`."""
    meta = _metadata(text)
    text = _without_gutenberg_wrapper(text)
    book_title = (title or meta.get("title") or fallback_title).strip()[
        :MAX_TITLE_CHARS
    ] or "Untitled"
    chapters = split_chapters(text, single_title=book_title)
    if not chapters:
        raise BookImportError(422, "This text is empty: there is nothing to read.")
    return ParsedBook(
        title=book_title,
        author=meta.get("author"),
        language=normalize_language(language),
        chapters=chapters,
    )
