"""XHTML chapter document → heading + paragraphs of plain text (BeautifulSoup over lxml).

Images, figures, scripts and footnote machinery (noterefs, footnote asides, page-break
markers) are dropped; entities are decoded by the parser; typographic quotes stay as text.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, NavigableString, Tag, XMLParsedAsHTMLWarning
from bs4.element import CData, Comment, Doctype, ProcessingInstruction
from lxml import etree

from app.services.books.parsed import BookImportError

BLOCK_TAGS = {
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
DROPPED_TAGS = (
    "script",
    "style",
    "img",
    "svg",
    "math",
    "figure",
    "audio",
    "video",
    "object",
    "iframe",
    "head",
    "noscript",
    "template",
    "map",
)
NOTE_TYPES = {
    "noteref",
    "footnote",
    "endnote",
    "footnotes",
    "endnotes",
    "rearnote",
    "rearnotes",
    "note",
    "pagebreak",
    "annoref",
    "annotation",
    "biblioref",
}
NOTE_ROLES = {
    "doc-noteref",
    "doc-footnote",
    "doc-endnote",
    "doc-endnotes",
    "doc-pagebreak",
    "doc-biblioref",
}
# Document-level types that mark a whole file as front matter to keep out of the reading order.
FRONT_MATTER_TYPES = {
    "cover",
    "titlepage",
    "halftitlepage",
    "toc",
    "copyright-page",
    "imprint",
    "landmarks",
    "loi",
    "lot",
    "colophon",
    "seriespage",
    "frontispiece",
}
# Real chapters nest a few dozen elements deep; BeautifulSoup's time grows with the square of the
# depth (8,000 nested <span>s, 100 KB that zip to 1 KB, took 36 s), so deeper documents are refused.
MAX_NESTING = 100
_NOT_TEXT = (Comment, ProcessingInstruction, Doctype, CData)
_WHITESPACE = re.compile(r"\s+")
_NOTE_MARKER = re.compile(r"^\s*[\[(]?\s*(\d{1,3}|[*†‡§¶]+|[ivxlc]{1,5})\s*[\])]?\s*$", re.I)


@dataclass
class HtmlSection:
    """The part of a document that starts at `anchor` (None: before the first anchor)."""

    anchor: str | None
    heading: str | None
    paragraphs: list[str]


@dataclass
class HtmlDocument:
    heading: str | None
    paragraphs: list[str]
    doc_title: str | None = None
    types: set[str] = field(default_factory=set)  # epub:type / role values on body and top sections
    sections: list[HtmlSection] = field(default_factory=list)  # split at the requested anchors


SPLIT_MARKER = "ownvoice-split"
_BLOCKISH = [*BLOCK_TAGS, SPLIT_MARKER]


def _types_of(tag: Tag) -> set[str]:
    return types_of(str(tag.get("epub:type", "")), str(tag.get("role", "")))


def types_of(epub_type: str, role: str) -> set[str]:
    """The structural types an element declares (epub:type and role values, "doc-" dropped)."""
    return {v.removeprefix("doc-").lower() for v in f"{epub_type} {role}".split()}


def is_note_machinery(
    name: str,
    attrs: dict[str, str],
    text: Callable[[], str],
    has_link: Callable[[], bool],
) -> bool:
    """Whether an element is footnote machinery, not text to read. `attrs` holds "epub:type",
    "role" and "href"; `text` and `has_link` (an <a> inside) are asked only when needed. The one
    rule for both the importer (BeautifulSoup) and the read-along export (lxml)."""
    role = attrs.get("role", "")
    if types_of(attrs.get("epub:type", ""), role) & NOTE_TYPES or set(role.split()) & NOTE_ROLES:
        return True
    if name == "sup" and (has_link() or _NOTE_MARKER.match(text())):
        return True  # a superscript link or number is a footnote marker, not text to read
    # A bare in-document link labelled "12" or "*" points at a note.
    in_document_link = name == "a" and attrs.get("href", "").startswith("#")
    return in_document_link and bool(_NOTE_MARKER.match(text()))


def _is_note_machinery(tag: Tag) -> bool:
    attrs = {key: str(tag.get(key, "")) for key in ("epub:type", "role", "href")}
    return is_note_machinery(tag.name, attrs, tag.get_text, lambda: tag.find("a") is not None)


def _strip_unreadable(body: Tag) -> None:
    for tag in body.find_all(DROPPED_TAGS):
        tag.decompose()
    for tag in body.find_all(True):
        if not tag.decomposed and _is_note_machinery(tag):
            tag.decompose()
    for node in body.find_all(string=lambda s: isinstance(s, _NOT_TEXT)):
        node.extract()
    for br in body.find_all("br"):
        br.replace_with(" ")


def _clean(text: str) -> str:
    return _WHITESPACE.sub(" ", text.replace("\u00ad", "")).strip()


def _collect(element: Tag, out: list[tuple[str, str]]) -> None:
    """Append (tag name, text) for every innermost block; inline runs between blocks are blocks too."""
    inline: list[str] = []

    def flush() -> None:
        text = _clean("".join(inline))
        if text:
            out.append((element.name, text))
        inline.clear()

    for child in element.children:
        if isinstance(child, Tag) and child.name == SPLIT_MARKER:
            flush()
            out.append((SPLIT_MARKER, str(child.get("data-anchor", ""))))
        elif isinstance(child, NavigableString):
            inline.append(str(child))
        elif isinstance(child, Tag) and (child.name in BLOCK_TAGS or child.find(_BLOCKISH)):
            flush()
            _collect(child, out)
        elif isinstance(child, Tag):
            inline.append(child.get_text())
    flush()


def _mark_anchors(soup: BeautifulSoup, body: Tag, anchors: list[str]) -> None:
    """Put a split marker before the block that holds each anchor (id="..." or name="...")."""
    for anchor in anchors:
        target = body.find(id=anchor) or body.find(None, {"name": anchor})
        if not isinstance(target, Tag):
            continue
        block = target
        while (
            block.parent is not None and block.parent is not body and block.name not in BLOCK_TAGS
        ):
            block = block.parent  # an <a id> inside a heading splits before the heading
        marker = soup.new_tag(SPLIT_MARKER)
        marker["data-anchor"] = anchor
        block.insert_before(marker)


def _without_leading_headings(blocks: list[tuple[str, str]]) -> list[str]:
    leading = 0
    while leading < len(blocks) and blocks[leading][0] in HEADING_TAGS:
        leading += (
            1  # the reader shows the chapter title itself; headings aren't its first sentence
        )
    return [text for _, text in blocks[leading:]]


def _sections(blocks: list[tuple[str, str]]) -> list[HtmlSection]:
    groups: list[tuple[str | None, list[tuple[str, str]]]] = [(None, [])]
    for name, text in blocks:
        if name == SPLIT_MARKER:
            groups.append((text, []))
        else:
            groups[-1][1].append((name, text))
    return [
        HtmlSection(
            anchor=anchor,
            heading=next((t for n, t in group if n in HEADING_TAGS), None),
            paragraphs=_without_leading_headings(group),
        )
        for anchor, group in groups
    ]


def check_nesting(content: bytes | str, limit: int = MAX_NESTING) -> None:
    """Refuse a document nested deeper than `limit` elements: one linear pass of lxml's parser."""
    parser = etree.HTMLPullParser(events=("start", "end"), recover=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    depth = 0
    for offset in range(0, len(data) + 1, 1 << 16):
        if offset < len(data):
            parser.feed(data[offset : offset + (1 << 16)])
        else:
            try:
                parser.close()
            except etree.XMLSyntaxError:
                return  # an empty page: nothing in it to nest
        for event, _element in parser.read_events():
            depth += 1 if event == "start" else -1
            if depth > limit:
                raise BookImportError(
                    422,
                    f"This book has a page nested more than {limit} elements deep, which is "
                    "refused as a possible attack. Export the book again, or check it with EPUBCheck.",
                )


def parse_html(content: bytes | str, anchors: list[str] | tuple[str, ...] = ()) -> HtmlDocument:
    """Text of one document; with `anchors` (fragment ids from the TOC), also split at them."""
    check_nesting(content)
    with warnings.catch_warnings():
        # XHTML is parsed as HTML on purpose: HTML entities (&nbsp;) and sloppy markup still read.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(content, "lxml")
    title_tag = soup.find("title")
    doc_title = _clean(title_tag.get_text()) if title_tag else None
    body = soup.body or soup
    types = _types_of(body) if isinstance(body, Tag) and body.name == "body" else set()
    for top in body.find_all(["section", "div", "nav"], recursive=True, limit=3):
        types |= _types_of(top)
    _mark_anchors(soup, body, list(anchors))
    _strip_unreadable(body)
    blocks: list[tuple[str, str]] = []
    _collect(body, blocks)
    sections = _sections(blocks)
    plain = [(n, t) for n, t in blocks if n != SPLIT_MARKER]
    return HtmlDocument(
        heading=next((t for n, t in plain if n in HEADING_TAGS), None),
        paragraphs=_without_leading_headings(plain),
        doc_title=doc_title or None,
        types=types,
        sections=sections,
    )
