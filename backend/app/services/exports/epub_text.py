"""The book's own XHTML with each imported sentence wrapped in one element with a stable id.

The sentences come from the import (html_text → segment → fragments), which reads a document's
body as plain text: footnote machinery and unreadable elements dropped, whitespace collapsed.
Here the same readable text is walked in the original XML tree (lxml, so the markup survives),
and each sentence is found again by its characters apart from whitespace: a sentence starts at a
block's start or right after the sentence before it, exactly as the importer cut it. Wrapping a
range that crosses inline elements splits them (<i>a. b</i> → <i>a.</i><i> b</i>), so every
sentence becomes one element whose text is the sentence.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import takewhile

from lxml import etree

from app.services.books.html_text import BLOCK_TAGS, DROPPED_TAGS, is_note_machinery
from app.services.errors import InvalidInput

XHTML_NS = "http://www.w3.org/1999/xhtml"
EPUB_NS = "http://www.idpf.org/2007/ops"
_XML_ENTITIES = {b"amp", b"lt", b"gt", b"quot", b"apos"}
_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]*);")
_MARK = "ownvoice-mark"


class ReadAlongError(InvalidInput):
    """The book's EPUB and its imported sentences do not fit together."""


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _numeric_entities(data: bytes) -> bytes:
    """XHTML 1.1 books use HTML's named entities (&nbsp;), which plain XML does not know: they
    become character references. Bytes in, bytes out: any ASCII-compatible encoding stays."""

    def numeric(match: re.Match[bytes]) -> bytes:
        if match.group(1) in _XML_ENTITIES:
            return match.group(0)
        chars = html.unescape(match.group(0).decode("ascii"))
        if chars == match.group(0).decode("ascii"):
            return match.group(0)  # not an HTML entity either: the parser will say so
        return "".join(f"&#{ord(c)};" for c in chars).encode("ascii")

    return _NAMED_ENTITY.sub(numeric, data)


def parse_xml(data: bytes, name: str) -> etree._Element:
    """A book's XML, never reaching outside it: no network, no DTD loading, and only entities the
    document itself defines (an external entity, such as a server file, is a syntax error)."""
    parser = etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ReadAlongError(
            f"The book's file {name} is not well-formed XML ({exc}), so no read-along EPUB can "
            "be made from it. Check the book with EPUBCheck."
        ) from exc


def parse_xhtml(data: bytes, name: str) -> etree._ElementTree:
    return etree.ElementTree(parse_xml(_numeric_entities(data), name))


def serialize_xhtml(tree: etree._ElementTree) -> bytes:
    """EPUB 3 XHTML: an XML declaration and the HTML5 doctype, whatever the source had."""
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8", doctype="<!DOCTYPE html>")


# ---------- the readable text of a document, character by character ----------


def _attrs(element: etree._Element) -> dict[str, str]:
    return {
        "epub:type": element.get(f"{{{EPUB_NS}}}type", ""),
        "role": element.get("role", ""),
        "href": element.get("href", ""),
    }


def _unreadable(element: etree._Element) -> bool:
    name = _local(element)
    if name in DROPPED_TAGS:
        return True
    return is_note_machinery(
        name,
        _attrs(element),
        lambda: "".join(_readable_strings(element)),
        lambda: next(element.iter(f"{{{XHTML_NS}}}a", "a"), None) is not None,
    )


def _readable_strings(element: etree._Element) -> Iterator[str]:
    for _slot, text in _slots(element):
        yield text


Slot = tuple[etree._Element, str]  # (element, "text" | "tail"): where a run of text lives


def _slots(element: etree._Element) -> Iterator[tuple[Slot, str]]:
    """The readable text runs inside `element`, in document order (its own tail excluded)."""
    if element.text:
        yield (element, "text"), element.text
    for child in element:
        if isinstance(child.tag, str) and not _unreadable(child):
            yield from _slots(child)
        if child.tail:
            yield (child, "tail"), child.tail


@dataclass
class TextStream:
    """A document's readable characters other than whitespace, each with the place it lives."""

    chars: str
    places: list[tuple[int, int]]  # (slot index, offset in that slot) per character
    slots: list[Slot]
    block_starts: set[int]  # positions where a block (p, li, h1, ...) begins or ends


def _is_gap(ch: str) -> bool:
    return ch.isspace() or ch == "\u00ad"  # the importer collapses whitespace, drops soft hyphens


def skeleton(text: str) -> str:
    """The characters a sentence is matched by: everything but whitespace and soft hyphens."""
    return "".join(ch for ch in text if not _is_gap(ch))


def text_stream(body: etree._Element) -> TextStream:
    stream = TextStream(chars="", places=[], slots=[], block_starts={0})
    chars: list[str] = []

    def visit(element: etree._Element) -> None:
        block = _local(element) in BLOCK_TAGS
        if block:
            stream.block_starts.add(len(chars))
        add((element, "text"), element.text)
        for child in element:
            if isinstance(child.tag, str) and not _unreadable(child):
                visit(child)
            add((child, "tail"), child.tail)
        if block:
            stream.block_starts.add(len(chars))

    def add(slot: Slot, text: str | None) -> None:
        if not text:
            return
        index = len(stream.slots)
        stream.slots.append(slot)
        for offset, ch in enumerate(text):
            if not _is_gap(ch):
                chars.append(ch)
                stream.places.append((index, offset))

    visit(body)
    stream.chars = "".join(chars)
    return stream


# ---------- finding the sentences ----------


@dataclass(frozen=True)
class Found:
    """Where one sentence lies: its first and last character in a document's text stream."""

    document: int
    first: int
    last: int


def find_sentence(streams: list[TextStream], cursor: tuple[int, int], text: str) -> Found | None:
    """The sentence's place at or after `cursor` (document, position): right at the cursor, or
    at the first block start after it whose text matches."""
    wanted = skeleton(text)
    if not wanted:
        return None
    document, position = cursor
    while document < len(streams):
        stream = streams[document]
        if stream.chars.startswith(wanted, position):
            return Found(document, position, position + len(wanted) - 1)
        at = stream.chars.find(wanted, position)
        while at >= 0 and at not in stream.block_starts:
            at = stream.chars.find(wanted, at + 1)
        if at >= 0:
            return Found(document, at, at + len(wanted) - 1)
        document, position = document + 1, 0
    return None


# ---------- wrapping one range in one element ----------


def _insert_mark(slot: Slot, offset: int) -> etree._Element:
    """An empty marker element at `offset` in the slot's text; the text before stays put."""
    element, kind = slot
    mark = etree.Element(_MARK)
    if kind == "text":
        text = element.text or ""
        element.text, mark.tail = text[:offset], text[offset:]
        element.insert(0, mark)
    else:
        text = element.tail or ""
        element.tail, mark.tail = text[:offset], text[offset:]
        parent = element.getparent()
        parent.insert(parent.index(element) + 1, mark)
    return mark


def _lift(mark: etree._Element) -> None:
    """Move the marker up one level, splitting its parent around it if it is in the middle."""
    parent = mark.getparent()
    grand = parent.getparent()
    at = grand.index(parent)
    if mark is parent[0] and not parent.text:  # at the very start: step out in front
        parent.text, mark.tail = mark.tail, None
        grand.insert(at, mark)
        return
    if mark is parent[-1] and not mark.tail:  # at the very end: step out behind
        mark.tail, parent.tail = parent.tail, None
        grand.insert(at + 1, mark)
        return
    twin = etree.Element(parent.tag, {k: v for k, v in parent.attrib.items() if k != "id"})
    twin.text, mark.tail = mark.tail, None
    for sibling in list(mark.itersiblings()):
        twin.append(sibling)  # the tail text travels with each element
    twin.tail, parent.tail = parent.tail, None
    grand.insert(at + 1, mark)
    grand.insert(at + 2, twin)


def _common_ancestor(a: etree._Element, b: etree._Element) -> etree._Element:
    ancestors = set(a.iterancestors())
    return next(x for x in b.iterancestors() if x in ancestors)


def wrap(stream: TextStream, found: Found, element_id: str) -> etree._Element:
    """Wrap the found characters in one <span> (a <div> if they cross blocks) with this id.

    Wrap the sentences of a document last to first: every change happens at or after the
    range's start, so the places of the sentences before it stay valid.
    """
    end_slot, end_offset = stream.places[found.last]
    end = _insert_mark(stream.slots[end_slot], end_offset + 1)
    start_slot, start_offset = stream.places[found.first]
    start = _insert_mark(stream.slots[start_slot], start_offset)
    common = _common_ancestor(start, end)
    while start.getparent() is not common:
        _lift(start)
    while end.getparent() is not common:
        _lift(end)
    inside = list(takewhile(lambda sibling: sibling is not end, start.itersiblings()))
    crosses_blocks = any(_local(x) in BLOCK_TAGS for el in inside for x in el.iter())
    wrapper = etree.Element(f"{{{XHTML_NS}}}{'div' if crosses_blocks else 'span'}")
    wrapper.set("id", element_id)
    wrapper.text, start.tail = start.tail, None
    for element in inside:
        wrapper.append(element)
    wrapper.tail, end.tail = end.tail, None
    common.replace(start, wrapper)
    common.remove(end)
    return wrapper
