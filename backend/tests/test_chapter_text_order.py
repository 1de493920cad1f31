"""Books read right: every chapter the API serves is the EPUB's own text, whole and in order.

A property over every EPUB these tests have (Alice, the EPUB 2 builder's book and its footnote
book) and generated ones (nested sections, inline quotes, dialogue with lone quotes and scene
breaks, footnotes, tables, images with alt text, plus seeded random mixes of all of them):
imported through the real app server and read back through GET /api/books/{id}/chapters/{id}
over HTTP, each chapter's paragraph and sentence ids are unique, every sentence has something
to say, and the sentences put together are, word for word, the chapter's XHTML body as a
reader sees it. That text is extracted here independently with plain lxml: images, figures and
note machinery (noterefs, footnotes, page-break markers) are not read, and the headings that
open a chapter are its title, which the reader shows apart from the text.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from dataclasses import dataclass

import httpx
import pytest
from books_fixtures import ALICE_EPUB, build_epub2, upload
from lxml import etree, html

pytest_plugins = ("books_fixtures",)

BLOCKS = {
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
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
NOT_READ = {"img", "figure", "script", "style", "svg"}
NOTE_TYPES = {"noteref", "footnote", "endnote", "endnotes", "footnotes", "pagebreak"}
NOTE_MARK = re.compile(r"^\s*[\[(]?\s*(\d{1,3}|[*†‡]+)\s*[\])]?\s*$")

# Building blocks of generated chapters: each is XHTML a book might hold.
NESTED = (
    "<section><div><p>The hall was long and low.</p><div><p>A door stood at the end. "
    "It was locked.</p></div>Loose words between blocks are read too.</div>"
    "<section><h2>A heading inside</h2><p>Deep inside, a key lay.</p></section></section>"
)
QUOTES = (
    "<p>She said, <q>hello there</q>, and \u201cleft.\u201d Then, \u2018quietly\u2019 "
    "\u2014 \u201cWhy?\u201d</p><blockquote><p>\u201cAll is well,\u201d the note read. "
    "\u201cCome home.\u201d</p></blockquote>"
)
DIALOGUE = (
    "<p>\u201cYes.\u201d</p><p>\u201cNo!\u201d</p><p>\u201cWell\u2026\u201d she said. "
    '\u201cMaybe.\u201d</p><p>\u201d</p><p>* * *</p><p>"I shall be a great deal too far '
    'off to trouble myself about you."</p><p>\u2014</p><p>They laughed.</p>'
)
FOOTNOTES = (
    '<p>Real text<a epub:type="noteref" href="#n1">1</a> continues<sup>2</sup> '
    'here<span epub:type="pagebreak" title="7">7</span> and ends.</p>'
    '<aside epub:type="footnote" id="n1"><p>The footnote body.</p></aside>'
    '<p>Another line<a href="#n2">*</a> follows.</p>'
)
TABLE = (
    "<p>The ages were these.</p><table><tr><th>Name</th><th>Age</th></tr>"
    "<tr><td>Alice</td><td>7</td></tr><tr><td>Dinah</td><td>3</td></tr></table>"
    "<p>That was all.</p>"
)
IMAGES = (
    '<p>Before <img src="cover.png" alt="A white rabbit with a watch"/> after.</p>'
    '<div><img src="cover.png" alt="A map of the garden"/></div>'
    '<figure><img src="cover.png" alt="Tea party"/></figure><p>The end of pictures.</p>'
)
GENERATED = {
    "nested sections": NESTED,
    "inline quotes": QUOTES,
    "dialogue": DIALOGUE,
    "footnotes": FOOTNOTES,
    "tables": TABLE,
    "images": IMAGES,
}


@dataclass
class Case:
    name: str
    data: bytes
    sources: list[str]  # the XHTML member each chapter comes from, in chapter order


def _chapters_case(name: str, bodies: list[str]) -> Case:
    chapters = [
        (f"part{n}.html", f"Part {n + 1}", f"<h1>{n + 1}</h1>{body}")
        for n, body in enumerate(bodies)
    ]
    return Case(name, build_epub2(chapters=chapters), [f"OEBPS/{c[0]}" for c in chapters])


def _random_mixes(count: int) -> list[Case]:
    """Seeded, so a failure names a book that can be built again."""
    cases = []
    for seed in range(count):
        rng = random.Random(seed)
        blocks = list(GENERATED.values())
        bodies = [
            "".join(rng.sample(blocks, rng.randint(2, len(blocks))))
            for _ in range(rng.randint(2, 4))
        ]
        cases.append(_chapters_case(f"random mix {seed}", bodies))
    return cases


def _alice() -> Case:
    return Case(
        "alice", ALICE_EPUB.read_bytes(), [f"OPS/chapter_{n:03d}.xhtml" for n in range(1, 11)]
    )


CASES = [
    _alice(),
    Case(
        "epub2 builder", build_epub2(), ["OEBPS/chap1.html", "OEBPS/chap2.html", "OEBPS/chap3.html"]
    ),
    *(_chapters_case(name, [body]) for name, body in GENERATED.items()),
    _chapters_case("all kinds", list(GENERATED.values())),
    *_random_mixes(4),
]


# --- the independent extraction ----------------------------------------------------------


def _is_note(element: html.HtmlElement) -> bool:
    kinds = f"{element.get('epub:type', '')} {element.get('role', '')}".replace("doc-", "")
    if set(kinds.split()) & NOTE_TYPES:
        return True
    text = element.text_content()
    if element.tag == "sup" and (element.find(".//a") is not None or NOTE_MARK.match(text)):
        return True
    return (
        element.tag == "a"
        and element.get("href", "").startswith("#")
        and bool(NOTE_MARK.match(text))
    )


def _drop(element: html.HtmlElement) -> None:
    element.drop_tree()  # keeps the tail text, which belongs to the parent


def reader_words(xhtml: bytes) -> list[str]:
    """The words of a chapter's body as a reader sees them, in document order."""
    body = html.fromstring(xhtml).find(".//body")
    assert body is not None
    for element in list(body.iter()):
        if not isinstance(element.tag, str):
            continue
        if element.tag in NOT_READ or _is_note(element):
            _drop(element)
    for element in body.iter():
        if element.tag == "br" or element.tag in BLOCKS:  # blocks never run into each other
            element.tail = " " + (element.tail or "")
            element.text = " " + (element.text or "")
    for heading in _opening_headings(body):  # the headings that open the chapter: its title
        _drop(heading)
    return body.text_content().replace("\u00ad", "").split()


def _opening_headings(body: html.HtmlElement) -> list[html.HtmlElement]:
    """The headings that come before any other text of the body."""
    headings, inside = [], 0
    for event, element in etree.iterwalk(body, events=("start", "end")):
        if event == "start":
            if element.tag in HEADINGS:
                if inside == 0:
                    headings.append(element)
                inside += 1
            elif inside == 0 and (element.text or "").strip():
                break
        else:
            inside -= element.tag in HEADINGS
            if inside == 0 and element is not body and (element.tail or "").strip():
                break
    return headings


# --- the property ------------------------------------------------------------------------


def served_chapters(client: httpx.Client, data: bytes, name: str) -> list[dict]:
    response = upload(client, f"{name}.epub", data, "application/epub+zip")
    assert response.status_code == 201, response.text
    book = response.json()
    chapters = []
    for chapter in book["chapters"]:
        detail = client.get(f"/api/books/{book['id']}/chapters/{chapter['id']}")
        assert detail.status_code == 200, detail.text
        chapters.append(detail.json())
    return chapters


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_chapter_is_its_document_whole_and_in_order(reader: httpx.Client, case: Case) -> None:
    chapters = served_chapters(reader, case.data, case.name.replace(" ", "-"))
    assert len(chapters) == len(case.sources), [c["title"] for c in chapters]
    with zipfile.ZipFile(io.BytesIO(case.data)) as archive:
        for chapter, source in zip(chapters, case.sources, strict=True):
            paragraph_ids = [p["id"] for p in chapter["paragraphs"]]
            sentences = [s for p in chapter["paragraphs"] for s in p["sentences"]]
            assert len(set(paragraph_ids)) == len(paragraph_ids), f"{source}: repeated paragraphs"
            assert len({s["id"] for s in sentences}) == len(sentences), f"{source}: repeated ids"
            silent = [s["text"] for s in sentences if not re.search(r"[^\W_]", s["text"])]
            assert silent == [], f"{source}: sentences with nothing to say"
            served = " ".join(s["text"] for s in sentences).split()
            expected = reader_words(archive.read(source))
            assert served == expected, _first_difference(source, served, expected)


def _first_difference(source: str, served: list[str], expected: list[str]) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(served, expected, strict=False)) if a != b),
        min(len(served), len(expected)),
    )
    return (
        f"{source}: word {at} differs: served {' '.join(served[at : at + 12])!r}, "
        f"the document has {' '.join(expected[at : at + 12])!r}"
    )
