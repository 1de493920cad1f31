"""EPUB 2 and 3 → ParsedBook: spine order, titles from nav/NCX, front matter marked, cover extracted.

The archive must already have passed `safety.vet_epub_archive` (size, bomb and DRM checks):
ebooklib reads every manifest item into memory.
"""

from __future__ import annotations

import posixpath
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import ebooklib
from ebooklib import epub
from lxml import etree

from app.services.books.html_text import FRONT_MATTER_TYPES, HtmlDocument, parse_html
from app.services.books.parsed import (
    BookImportError,
    CoverImage,
    ImportDeadline,
    ParsedBook,
    ParsedChapter,
    text_too_long,
)
from app.services.books.segment import normalize_language

OPF_MISSING = (
    "This EPUB is malformed: its package document (OPF) or table of contents is missing or "
    "incomplete. "
    "Export the book again, or check it with EPUBCheck."
)
MAX_COVER_BYTES = 10 * 1024 * 1024
IMAGE_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
GUIDE_FRONT_MATTER = {"cover", "title-page", "toc", "copyright-page", "colophon"}
_FRONT_MATTER_NAME = re.compile(
    r"(^|[/_-])(cover|titlepage|title-page|title_page|toc|contents|copyright)\b", re.I
)
_FRONT_MATTER_TITLE = re.compile(r"^(cover|title page|contents|table of contents|copyright)$", re.I)


def _norm_href(base_dir: str, href: str) -> str:
    path = unquote(href.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(base_dir, path)) if path else ""


def read_book(path: Path) -> epub.EpubBook:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # ignore_ncx: an EPUB 3 nav document wins over a legacy NCX; EPUB 2 still uses its NCX.
            return epub.read_epub(str(path), {"ignore_ncx": True})
    except epub.EpubException as exc:
        if "container file" in str(exc.msg):  # ebooklib's words for "the OPF is missing"
            raise BookImportError(422, OPF_MISSING) from exc
        raise BookImportError(422, f"This EPUB is malformed: {exc.msg}") from exc
    except KeyError as exc:
        raise BookImportError(
            422, f"This EPUB is malformed: a file it lists is missing ({exc.args[0]})."
        ) from exc
    except etree.LxmlError as exc:
        raise BookImportError(422, f"This EPUB has broken XML: {exc}") from exc
    except (AttributeError, AssertionError, IndexError, TypeError, ValueError) as exc:
        # ebooklib fails this way on an empty container.xml, an OPF without metadata, manifest or
        # spine, or a nav document without a toc.
        raise BookImportError(422, OPF_MISSING) from exc


def _first_meta(book: epub.EpubBook, name: str) -> str | None:
    for value, _attrs in book.get_metadata("DC", name):
        if value and value.strip():
            return " ".join(value.split())
    return None


def dc_metadata(path: Path, *names: str) -> dict[str, str | None]:
    """Dublin Core fields of a stored EPUB (date, description, ...), for exports' tags."""
    book = read_book(path)
    return {name: _first_meta(book, name) for name in names}


def _authors(book: epub.EpubBook) -> str | None:
    names = [" ".join(v.split()) for v, _ in book.get_metadata("DC", "creator") if v and v.strip()]
    return ", ".join(dict.fromkeys(names)) or None


def _split_href(base_dir: str, href: str) -> tuple[str, str | None]:
    path, _, fragment = href.partition("#")
    return _norm_href(base_dir, path), (unquote(fragment) or None)


def _toc_entries(book: epub.EpubBook) -> dict[str, list[tuple[str | None, str]]]:
    """Spine document → its table-of-contents entries (fragment, title), in TOC order."""
    ncx = next(iter(book.get_items_of_type(ebooklib.ITEM_NAVIGATION)), None)
    nav_used = any(isinstance(i, epub.EpubNav) for i in book.get_items())
    # ebooklib resolves nav hrefs against the nav's folder; NCX hrefs are left raw.
    ncx_dir = posixpath.dirname(ncx.file_name) if ncx is not None and not nav_used else ""
    entries: dict[str, list[tuple[str | None, str]]] = {}

    def walk(nodes: object) -> None:
        # ebooklib gives a list of Link | (Section, children), or a bare Link for a one-entry NCX.
        for entry in nodes if isinstance(nodes, list | tuple) else [nodes]:
            node, children = entry if isinstance(entry, tuple) else (entry, [])
            title = " ".join((getattr(node, "title", "") or "").split())
            document, fragment = _split_href(ncx_dir, getattr(node, "href", "") or "")
            known = entries.setdefault(document, []) if document else []
            if document and title and fragment not in {f for f, _ in known}:
                known.append((fragment, title))
            walk(children)

    walk(book.toc or [])
    return entries


def _guide_front_matter(book: epub.EpubBook) -> set[str]:
    return {
        _norm_href("", ref.get("href") or "")
        for ref in (book.guide or [])
        if (ref.get("type") or "").lower() in GUIDE_FRONT_MATTER
    }


def _is_front_matter(
    item: epub.EpubItem, doc: HtmlDocument, title: str | None, guide: set[str]
) -> bool:
    if isinstance(item, epub.EpubNav) or doc.types & FRONT_MATTER_TYPES:
        return True
    if item.get_name() in guide:
        return True
    return bool(title and _FRONT_MATTER_TITLE.match(title)) or (
        title is None and bool(_FRONT_MATTER_NAME.search(item.get_name()))
    )


def spine_documents(book: epub.EpubBook) -> list[epub.EpubItem]:
    """Linear spine items that are (X)HTML documents, in reading order."""
    documents = []
    for idref, linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or (linear or "yes").lower() == "no":
            continue  # non-linear items (cover, notes) are outside the reading order by definition
        if item.media_type in ("application/xhtml+xml", "text/html") or isinstance(
            item, epub.EpubHtml
        ):
            documents.append(item)
    return documents


def _append(
    chapters: list[ParsedChapter],
    title: str | None,
    paragraphs: list[str],
    front: bool,
    fallback: str | None,
) -> None:
    """Add a chapter, or continue the previous one when this part has no title of its own."""
    if title is None and chapters and not front:
        chapters[-1].paragraphs.extend(paragraphs)  # a chapter split over several files
        return
    if paragraphs:
        name = title or fallback or f"Section {len(chapters) + 1}"
        chapters.append(ParsedChapter(title=name, paragraphs=paragraphs, front_matter=front))


@dataclass
class _Budget:
    """What reading the rest of the book may still cost: characters of text, and time."""

    max_chars: int | None
    deadline: ImportDeadline | None
    chars: int = 0

    def spend(self, doc: HtmlDocument) -> None:
        """Count a document's text; refuse the book as soon as it passes the character cap."""
        self.chars += sum(len(p) for p in doc.paragraphs)
        if self.max_chars is not None and self.chars > self.max_chars:
            raise text_too_long(self.chars, self.max_chars)

    def check_time(self) -> None:
        if self.deadline is not None:
            self.deadline.check()


def _chapters(book: epub.EpubBook, book_title: str | None, budget: _Budget) -> list[ParsedChapter]:
    toc = _toc_entries(book)
    guide = _guide_front_matter(book)
    chapters: list[ParsedChapter] = []
    for item in spine_documents(book):
        budget.check_time()
        entries = toc.get(item.get_name(), [])
        anchors = [fragment for fragment, _ in entries if fragment]
        # The raw bytes: ebooklib's get_content() rebuilds the page from a template, losing <title>.
        doc = parse_html(item.content or b"", anchors if len(entries) > 1 else ())
        budget.spend(doc)
        # Many books repeat the book's title in every page's <title>: no use as a chapter name.
        fallback = doc.doc_title if doc.doc_title != book_title else None
        if len(entries) > 1:  # several TOC entries point into this one file: split it at them
            titles = dict(entries)
            for section in doc.sections:
                own = titles.get(section.anchor)
                title = own or (section.heading if section.anchor else titles.get(None))
                # Document-level types describe the whole file, not this part: judge by title.
                front = bool(title and _FRONT_MATTER_TITLE.match(title))
                _append(chapters, title or section.heading, section.paragraphs, front, fallback)
            continue
        toc_title = entries[0][1] if entries else None
        front = _is_front_matter(item, doc, toc_title, guide)
        _append(chapters, toc_title or doc.heading, doc.paragraphs, front, fallback)
    return chapters


def _image_type(data: bytes) -> str | None:
    for magic, media_type in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None  # SVG and unknown types are not served: an SVG can carry script


def _cover_candidates(book: epub.EpubBook) -> list[epub.EpubItem]:
    candidates = list(book.get_items_of_type(ebooklib.ITEM_COVER))
    for value, attrs in book.get_metadata(
        "OPF", "cover"
    ):  # EPUB 2: <meta name="cover" content="id">
        item = book.get_item_with_id(attrs.get("content") or value or "")
        if item is not None:
            candidates.append(item)
    images = list(book.get_items_of_type(ebooklib.ITEM_IMAGE))
    candidates += [
        i for i in images if "cover" in (i.get_id() or "").lower() + i.get_name().lower()
    ]
    return candidates


def _cover(book: epub.EpubBook) -> CoverImage | None:
    for item in _cover_candidates(book):
        data = item.content or b""
        media_type = _image_type(data)
        if media_type and len(data) <= MAX_COVER_BYTES:
            return CoverImage(data=data, media_type=media_type)
    return None


def parse_epub(
    path: Path,
    fallback_title: str = "Untitled",
    *,
    max_chars: int | None = None,
    deadline: ImportDeadline | None = None,
) -> ParsedBook:
    """The book's chapters; stops with a 413 as soon as its text passes `max_chars`, and with a
    422 at the first document that starts after `deadline`."""
    book = read_book(path)
    title = _first_meta(book, "title")
    chapters = _chapters(book, title, _Budget(max_chars, deadline))
    if not any(not c.front_matter for c in chapters):
        raise BookImportError(422, "This EPUB has no readable text (it may contain only images).")
    return ParsedBook(
        title=title or fallback_title,
        author=_authors(book),
        language=normalize_language(_first_meta(book, "language")),
        chapters=chapters,
        cover=_cover(book),
    )
