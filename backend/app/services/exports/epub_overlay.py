"""EPUB 3 read-along: the original book, its sentences wrapped, and Media Overlays that play them.

`write_read_along_epub` copies the source EPUB (2 or 3) into an EPUB 3: every page of the
reading order keeps its markup, cover, CSS and images; each exported sentence becomes one
element with a stable id (epub_text.py), and each of its words too when the sentence was heard
(its cache entry's word timings); each page that holds exported sentences gets one SMIL
media overlay with a <par> per sentence (text id + clip of its chapter's audio file), or for a
sentence with timed words a <seq> of one <par> per word (Media Overlays 3: a <seq> with an
`epub:textref` to the sentence, nesting the <par>s of its parts); the chapter
audio files travel inside; the package document gains `media-overlay` links, `media:duration`
per overlay and in total, `media:narrator`, `media:active-class` and a CSS rule for that class;
an EPUB 2 gets an EPUB 3 navigation document made from its NCX. The result passes EPUBCheck.

A chapter that spans several pages gets one overlay per page (EPUB allows one overlay per page,
and one page per overlay); a page with several chapters has them in one overlay.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

import av
from lxml import etree

from app.core.files import fsync_replace
from app.services.books.epub import read_book, spine_documents
from app.services.exports.epub_text import (
    EPUB_NS,
    XHTML_NS,
    Found,
    ReadAlongError,
    TextStream,
    find_sentence,
    parse_xhtml,
    parse_xml,
    serialize_xhtml,
    skeleton,
    text_stream,
    wrap,
)
from app.services.exports.timeline import PARTIAL, ChapterAudio, SentenceTiming
from app.services.exports.xhtml5 import modernize

OPF_NS = "http://www.idpf.org/2007/opf"
DC_NS = "http://purl.org/dc/elements/1.1/"
NCX_NS = "http://www.daisy.org/z3986/2005/ncx/"
SMIL_NS = "http://www.w3.org/ns/SMIL"
CONTAINER_NS = "urn:oasis:names:tc:opendocument:xmlns:container"
ACTIVE_CLASS = "ownvoice-active"
AUDIO_TYPES = {".m4a": "audio/mp4", ".mp4": "audio/mp4", ".mp3": "audio/mpeg"}
XHTML_TYPE = "application/xhtml+xml"
CSS_RULE = f".{ACTIVE_CLASS} {{ background-color: #fde68a; color: inherit; }}\n"
TIME_TOLERANCE_S = 0.0005  # clip times are written to the millisecond
AUDIO_SLACK_S = 0.1  # an encoder's padding, or an MP3's duration estimated from its bitrate


@dataclass
class _Item:
    """One manifest entry: its id, its path in the archive, and its <item> element."""

    id: str
    path: str
    media_type: str
    element: etree._Element


@dataclass
class _Clip:
    sentence: SentenceTiming
    audio: str  # archive path of the chapter's audio file
    element_id: str


@dataclass(frozen=True)
class _WordClip:
    """One timed word's element id and its clip of the chapter's audio, in ms."""

    element_id: str
    begin_ms: int
    end_ms: int


@dataclass
class _Overlay:
    """The SMIL document for one page: its clips in reading order and its duration in ms."""

    page: _Item
    clips: list[_Clip] = field(default_factory=list)
    duration_ms: int = 0
    id: str = ""
    path: str = ""


def _clock(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _href(from_path: str, to_path: str) -> str:
    """A relative IRI from one archive file to another."""
    return quote(posixpath.relpath(to_path, posixpath.dirname(from_path) or "."))


# ---------- reading the source ----------


class _Source:
    """The source archive: its OPF, manifest and reading order."""

    def __init__(self, archive: zipfile.ZipFile, source: Path) -> None:
        self.archive = archive
        container = parse_xml(archive.read("META-INF/container.xml"), "META-INF/container.xml")
        rootfile = container.find(f".//{{{CONTAINER_NS}}}rootfile")
        if rootfile is None:
            raise ReadAlongError("This EPUB has no package document; import a valid EPUB.")
        self.opf_path = rootfile.get("full-path", "")
        self.opf_dir = posixpath.dirname(self.opf_path)
        self.opf = etree.ElementTree(parse_xml(archive.read(self.opf_path), self.opf_path))
        self.items: dict[str, _Item] = {}
        for element in self.opf.getroot().iterfind(f"{{{OPF_NS}}}manifest/{{{OPF_NS}}}item"):
            path = posixpath.normpath(
                posixpath.join(self.opf_dir, unquote(element.get("href", "")))
            )
            item = _Item(element.get("id", ""), path, element.get("media-type", ""), element)
            self.items[item.id] = item
        by_path = {item.path: item for item in self.items.values()}
        # The importer's rule for the reading order (linear XHTML spine items), so the same pages.
        self.pages = [
            by_path[posixpath.normpath(posixpath.join(self.opf_dir, doc.get_name()))]
            for doc in spine_documents(read_book(source))
        ]

    def read(self, path: str) -> bytes:
        return self.archive.read(path)

    @property
    def metadata(self) -> etree._Element:
        found = self.opf.getroot().find(f"{{{OPF_NS}}}metadata")
        if found is None:
            raise ReadAlongError("This EPUB's package document has no metadata.")
        return found


# ---------- sentences → pages ----------


def _check_timings(chapter: ChapterAudio) -> None:
    previous = 0.0
    for sentence in chapter.sentences:
        if not previous - TIME_TOLERANCE_S <= sentence.start <= sentence.end:
            raise ReadAlongError(
                f"Sentence {sentence.sentence_id} of chapter {chapter.title!r} has times "
                f"{sentence.start}–{sentence.end} s out of order; render the chapter again."
            )
        if sentence.end > chapter.duration + TIME_TOLERANCE_S:
            raise ReadAlongError(
                f"Sentence {sentence.sentence_id} of chapter {chapter.title!r} ends at "
                f"{sentence.end} s, after the chapter's audio ({chapter.duration} s)."
            )
        previous = sentence.end


def _check_audio(chapter: ChapterAudio) -> None:
    """The audio file must be there, be audio, and last as long as the chapter says."""
    try:
        with av.open(str(chapter.audio_path)) as container:
            seconds = (container.duration or 0) / av.time_base
    except (OSError, av.FFmpegError) as exc:
        raise ReadAlongError(
            f"The audio of chapter {chapter.title!r} cannot be read ({exc}); render it again."
        ) from exc
    if chapter.duration > seconds + AUDIO_SLACK_S:
        raise ReadAlongError(
            f"The audio of chapter {chapter.title!r} lasts {seconds:.3f} s, less than the "
            f"{chapter.duration:.3f} s its timings need; render the chapter again."
        )


def _locate(streams: list[TextStream], chapters: list[ChapterAudio]) -> list[list[Found]]:
    """Every sentence's place, chapter by chapter, in reading order."""
    cursor = (0, 0)
    located = []
    for chapter in chapters:
        places = []
        for sentence in chapter.sentences:
            found = find_sentence(streams, cursor, sentence.text)
            if found is None:
                raise ReadAlongError(
                    f"The sentence {sentence.text[:80]!r} of chapter {chapter.title!r} is not in "
                    "the book's EPUB at or after the previous one. The book may have been "
                    "imported by an older version of Ownvoice: import it again, then export."
                )
            places.append(found)
            cursor = (found.document, found.last + 1)
        located.append(places)
    return located


def _audio_path(source: _Source, index: int, chapter: ChapterAudio) -> str:
    suffix = chapter.audio_path.suffix.lower()
    if suffix not in AUDIO_TYPES:
        raise ReadAlongError(
            f"Chapter {chapter.title!r} has audio {chapter.audio_path.name}; a read-along EPUB "
            f"takes {', '.join(sorted(AUDIO_TYPES))} files."
        )
    return posixpath.join(source.opf_dir, "audio", f"chapter-{index + 1:04d}{suffix}")


def _overlays(
    source: _Source,
    chapters: list[ChapterAudio],
    located: list[list[Found]],
    audio: list[str],
) -> list[_Overlay]:
    """One overlay per page that holds exported sentences; each chapter's duration is shared out
    among its pages at the clip where the next page starts, so the overlays sum to the book."""
    overlays: dict[int, _Overlay] = {}
    for number, (chapter, places) in enumerate(zip(chapters, located, strict=True)):
        pieces: list[tuple[int, float]] = []  # (page, time the piece starts)
        for sentence, found in zip(chapter.sentences, places, strict=True):
            overlay = overlays.setdefault(found.document, _Overlay(source.pages[found.document]))
            overlay.clips.append(_Clip(sentence, audio[number], _element_id(sentence)))
            if not pieces or pieces[-1][0] != found.document:
                pieces.append((found.document, 0.0 if not pieces else sentence.start))
        bounds = [start for _, start in pieces[1:]] + [chapter.duration]
        for (page, start), end in zip(pieces, bounds, strict=True):
            overlays[page].duration_ms += _ms(end) - _ms(start)
    ordered = [overlays[page] for page in sorted(overlays)]
    for number, overlay in enumerate(ordered, start=1):
        overlay.id = f"ownvoice-mo-{number:04d}"
        overlay.path = posixpath.join(source.opf_dir, "overlays", f"page-{number:04d}.smil")
    return ordered


# ---------- writing the parts ----------


def _wrapped_pages(
    trees: list[etree._ElementTree],
    streams: list[TextStream],
    chapters: list[ChapterAudio],
    located: list[list[Found]],
) -> dict[str, list[_WordClip]]:
    """Wrap every located sentence, last to first (see epub_text.wrap), and its words where
    it has word timings; the word clips by sentence element id."""
    todo = [
        (found, sentence)
        for chapter, places in zip(chapters, located, strict=True)
        for sentence, found in zip(chapter.sentences, places, strict=True)
    ]
    taken = {i for tree in trees for i in tree.getroot().xpath("//@id")}
    words: dict[str, list[_WordClip]] = {}
    for found, sentence in reversed(todo):
        element_id = _element_id(sentence)
        if element_id in taken:
            raise ReadAlongError(f"The id {element_id} is twice in the book; export again.")
        taken.add(element_id)
        nested = _nest_words(wrap(streams[found.document], found, element_id), sentence)
        if nested:
            words[element_id] = nested
    return words


def _element_id(sentence: SentenceTiming) -> str:
    """Stable across exports: the sentence's own id in the library."""
    return f"ov-{sentence.sentence_id}"


def _word_id(sentence: SentenceTiming, number: int) -> str:
    return f"{_element_id(sentence)}-w{number}"


def _word_ranges(sentence: SentenceTiming, chars: str) -> list[tuple[int, int, int]] | None:
    """(word number, first, last character) of each timed word in the sentence's characters
    (its wrapper's text stream); None when a word is not where its offset says, so the
    sentence stays whole rather than being highlighted wrongly."""
    ranges: list[tuple[int, int, int]] = []
    end = 0
    for number, word in enumerate(sentence.words, start=1):
        first = len(skeleton(sentence.text[: word.offset]))
        core = skeleton(word.word)
        if not core or first < end or chars[first : first + len(core)] != core:
            return None
        ranges.append((number, first, first + len(core) - 1))
        end = first + len(core)
    return ranges


def _nest_words(wrapper: etree._Element, sentence: SentenceTiming) -> list[_WordClip]:
    """With word timings, each word of the sentence gets its own <span id> inside the sentence's
    element; the clips to play them by (see _word_clips). None without timings, or when the
    sentence is wrapped in a <div> (it crosses blocks: a word there would cross them too)."""
    if not sentence.words or etree.QName(wrapper).localname != "span":
        return []
    stream = text_stream(wrapper)
    ranges = _word_ranges(sentence, stream.chars)
    if not ranges:
        return []
    for number, first, last in reversed(ranges):  # last to first, as wrap asks
        wrap(stream, Found(0, first, last), _word_id(sentence, number))
    return _word_clips(sentence, [number for number, _, _ in ranges])


def _word_clips(sentence: SentenceTiming, numbers: list[int]) -> list[_WordClip]:
    """The sentence's clip cut at each word's start: the first word from the sentence's start,
    each word until the next one starts, the last until the sentence ends. Played one after
    another they are the whole sentence, pauses included; a word shorter than a millisecond
    gets no clip (its neighbour covers it)."""
    first, last = _ms(sentence.start), _ms(sentence.end)
    bounds = [first]
    for number in numbers[1:]:
        bounds.append(min(max(_ms(sentence.words[number - 1].start), bounds[-1]), last))
    bounds.append(last)
    return [
        _WordClip(_word_id(sentence, number), begin, end)
        for number, begin, end in zip(numbers, bounds, bounds[1:], strict=False)
        if begin < end
    ]


def _link_css(tree: etree._ElementTree, page_path: str, css_path: str) -> None:
    root = tree.getroot()
    head = root.find(f"{{{XHTML_NS}}}head")
    if head is None:
        head = etree.Element(f"{{{XHTML_NS}}}head")
        root.insert(0, head)
    link = etree.SubElement(head, f"{{{XHTML_NS}}}link")
    link.set("rel", "stylesheet")
    link.set("type", "text/css")
    link.set("href", _href(page_path, css_path))


def _smil(overlay: _Overlay, words: dict[str, list[_WordClip]]) -> bytes:
    """A <par> per sentence; a sentence with timed words is a <seq> of one <par> per word."""
    nsmap = {None: SMIL_NS, "epub": EPUB_NS}
    root = etree.Element(f"{{{SMIL_NS}}}smil", nsmap=nsmap, version="3.0")
    body = etree.SubElement(root, f"{{{SMIL_NS}}}body")
    page = _href(overlay.path, overlay.page.path)
    for number, clip in enumerate(overlay.clips, start=1):
        audio = _href(overlay.path, clip.audio)
        clips = words.get(clip.element_id)
        if not clips:
            par = etree.SubElement(body, f"{{{SMIL_NS}}}par", id=f"par-{number:05d}")
            _par_parts(
                par, f"{page}#{clip.element_id}", audio, clip.sentence.start, clip.sentence.end
            )
            continue
        seq = etree.SubElement(body, f"{{{SMIL_NS}}}seq", id=f"seq-{number:05d}")
        seq.set(f"{{{EPUB_NS}}}textref", f"{page}#{clip.element_id}")
        for n, word in enumerate(clips, start=1):
            par = etree.SubElement(seq, f"{{{SMIL_NS}}}par", id=f"par-{number:05d}-{n}")
            _par_parts(
                par, f"{page}#{word.element_id}", audio, word.begin_ms / 1000, word.end_ms / 1000
            )
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _par_parts(par: etree._Element, text_src: str, audio: str, begin: float, end: float) -> None:
    etree.SubElement(par, f"{{{SMIL_NS}}}text", src=text_src)
    etree.SubElement(
        par, f"{{{SMIL_NS}}}audio", src=audio, clipBegin=f"{begin:.3f}s", clipEnd=f"{end:.3f}s"
    )


def _nav_from_ncx(source: _Source, nav_path: str, language: str) -> bytes | None:
    """An EPUB 3 navigation document with the NCX's table of contents, for an EPUB 2."""
    ncx = next((i for i in source.items.values() if i.media_type.endswith("dtbncx+xml")), None)
    if ncx is None:
        return None
    points = parse_xml(source.read(ncx.path), ncx.path).find(f"{{{NCX_NS}}}navMap")
    html = etree.Element(f"{{{XHTML_NS}}}html", nsmap={None: XHTML_NS, "epub": EPUB_NS})
    html.set("lang", language)
    html.set("{http://www.w3.org/XML/1998/namespace}lang", language)
    head = etree.SubElement(html, f"{{{XHTML_NS}}}head")
    etree.SubElement(head, f"{{{XHTML_NS}}}title").text = "Contents"
    body = etree.SubElement(html, f"{{{XHTML_NS}}}body")
    nav = etree.SubElement(body, f"{{{XHTML_NS}}}nav")
    nav.set(f"{{{EPUB_NS}}}type", "toc")
    nav.set("id", "toc")
    etree.SubElement(nav, f"{{{XHTML_NS}}}h1").text = "Contents"
    listing = _nav_list(points if points is not None else [], ncx.path, nav_path)
    if not len(listing):
        return None
    nav.append(listing)
    return serialize_xhtml(etree.ElementTree(html))


def _nav_list(parent: Iterable[etree._Element], ncx_path: str, nav_path: str) -> etree._Element:
    listing = etree.Element(f"{{{XHTML_NS}}}ol")
    for point in parent:
        if etree.QName(point).localname != "navPoint":
            continue
        label_element = point.find(f"{{{NCX_NS}}}navLabel")
        label = (
            " ".join("".join(label_element.itertext()).split()) if label_element is not None else ""
        )
        content = point.find(f"{{{NCX_NS}}}content")
        src = content.get("src", "") if content is not None else ""
        target, _, fragment = src.partition("#")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(ncx_path), unquote(target)))
        entry = etree.SubElement(listing, f"{{{XHTML_NS}}}li")
        link = etree.SubElement(entry, f"{{{XHTML_NS}}}a")
        link.set("href", _href(nav_path, path) + (f"#{fragment}" if fragment else ""))
        link.text = label or "Untitled"
        children = _nav_list(point, ncx_path, nav_path)
        if len(children):
            entry.append(children)
    return listing


# ---------- the package document ----------


def _meta(metadata: etree._Element, prop: str, text: str, refines: str | None = None) -> None:
    meta = etree.SubElement(metadata, f"{{{OPF_NS}}}meta", property=prop)
    if refines:
        meta.set("refines", refines)
    meta.text = text


def _without_opf_prefix(metadata: etree._Element) -> etree._Element:
    """The metadata element again, minus an EPUB 2 `xmlns:opf` declaration, so that the <meta>
    elements added to it are written <meta>, not <opf:meta>."""
    nsmap = {k: v for k, v in metadata.nsmap.items() if k is None or v != OPF_NS}
    fresh = etree.Element(metadata.tag, dict(metadata.attrib), nsmap=nsmap)
    fresh.text = metadata.text
    fresh.extend(list(metadata))
    fresh.tail = metadata.tail
    metadata.getparent().replace(metadata, fresh)
    return fresh


def _epub3_metadata(metadata: etree._Element, language: str | None) -> None:
    """EPUB 2 metadata → EPUB 3: opf: attributes become refinements; dcterms:modified is set;
    any media overlay metadata the book already had is replaced."""
    opf_attr = f"{{{OPF_NS}}}"
    for number, element in enumerate(list(metadata), start=1):
        if not isinstance(element.tag, str):
            continue
        refinements = {}
        for name in [a for a in element.attrib if a.startswith(opf_attr)]:
            local = name[len(opf_attr) :]
            value = element.attrib.pop(name)
            if local in ("role", "file-as"):
                refinements[local] = value
        if refinements:
            element_id = element.get("id") or f"ownvoice-meta-{number}"
            element.set("id", element_id)
            for local, value in refinements.items():
                _meta(metadata, local, value, f"#{element_id}")
                if local == "role":
                    metadata[-1].set("scheme", "marc:relators")
        prop = element.get("property", "")
        if prop.startswith("media:") or prop == "dcterms:modified":
            metadata.remove(element)
    if metadata.find(f"{{{DC_NS}}}language") is None:
        etree.SubElement(metadata, f"{{{DC_NS}}}language").text = language or "en"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _meta(metadata, "dcterms:modified", now)


def _manifest_item(manifest: etree._Element, item_id: str, href: str, media_type: str) -> None:
    etree.SubElement(
        manifest, f"{{{OPF_NS}}}item", id=item_id, href=href, **{"media-type": media_type}
    )


def _add_property(element: etree._Element, prop: str) -> None:
    props = element.get("properties", "").split()
    if prop not in props:
        element.set("properties", " ".join([*props, prop]))


def _page_properties(item: _Item, tree: etree._ElementTree) -> None:
    """EPUB 3 asks the manifest to say which pages hold scripts, SVG or MathML."""
    names = {etree.QName(e).namespace for e in tree.getroot().iter() if isinstance(e.tag, str)}
    local = {etree.QName(e).localname for e in tree.getroot().iter() if isinstance(e.tag, str)}
    if "http://www.w3.org/2000/svg" in names:
        _add_property(item.element, "svg")
    if "http://www.w3.org/1998/Math/MathML" in names:
        _add_property(item.element, "mathml")
    if {"script", "form"} & local:
        _add_property(item.element, "scripted")


def _mark_cover_image(source: _Source) -> None:
    """EPUB 2 names its cover image in <meta name="cover">; EPUB 3 by a manifest property."""
    items = source.items.values()
    if any("cover-image" in i.element.get("properties", "").split() for i in items):
        return
    for meta in source.metadata.iterfind(f"{{{OPF_NS}}}meta[@name='cover']"):
        item = source.items.get(meta.get("content", ""))
        if item is not None and item.media_type.startswith("image/"):
            _add_property(item.element, "cover-image")
            return


# ---------- the whole book ----------


def write_read_along_epub(
    source_epub: Path,
    chapters: list[ChapterAudio],
    out: Path,
    *,
    narrator: str,
    language: str | None = None,
) -> None:
    """Write `out` (atomically): the source EPUB as an EPUB 3 whose chapters play `chapters`'
    audio with each sentence highlighted. `chapters` are in book order, their sentences the
    ones the app imported from this very EPUB."""
    chapters = [chapter for chapter in chapters if chapter.sentences]  # nothing to highlight
    for chapter in chapters:
        _check_timings(chapter)
        _check_audio(chapter)
    with zipfile.ZipFile(source_epub) as archive:
        source = _Source(archive, source_epub)
        parts = _build(source, chapters, narrator=narrator, language=language)
        _write_archive(source, parts, out)


@dataclass
class _Parts:
    """Archive path → new bytes (replacing or adding), and the audio files to add."""

    files: dict[str, bytes]
    audio: dict[str, Path]


def _build(
    source: _Source, chapters: list[ChapterAudio], *, narrator: str, language: str | None
) -> _Parts:
    documents = {
        item.path: parse_xhtml(source.read(item.path), item.path)
        for item in [*source.items.values(), *source.pages]
        if item.media_type in (XHTML_TYPE, "text/html") or item in source.pages
    }
    for tree in documents.values():
        modernize(tree.getroot())  # before the sentences are found: wrapping sees the new names
    trees = [documents[page.path] for page in source.pages]
    streams = [text_stream(_body(tree)) for tree in trees]
    located = _locate(streams, chapters)
    audio = [_audio_path(source, n, chapter) for n, chapter in enumerate(chapters)]
    overlays = _overlays(source, chapters, located, audio)
    words = _wrapped_pages(trees, streams, chapters, located)
    css_path = posixpath.join(source.opf_dir, "ownvoice-read-along.css")
    files: dict[str, bytes] = {css_path: CSS_RULE.encode()}
    overlaid = {overlay.page.path for overlay in overlays}
    for page, tree in zip(source.pages, trees, strict=True):
        if page.path in overlaid:
            _link_css(tree, page.path, css_path)
    for item in source.items.values():  # every page: the EPUB 3 doctype, manifest properties
        if item.path in documents:
            item.element.set("media-type", XHTML_TYPE)
            _page_properties(item, documents[item.path])
            files[item.path] = serialize_xhtml(documents[item.path])
    for overlay in overlays:
        files[overlay.path] = _smil(overlay, words)
    files.update(_package(source, overlays, audio, css_path, narrator, language, files))
    return _Parts(files, {path: c.audio_path for path, c in zip(audio, chapters, strict=True)})


def _body(tree: etree._ElementTree) -> etree._Element:
    body = tree.getroot().find(f"{{{XHTML_NS}}}body")
    return body if body is not None else tree.getroot()


def _package(
    source: _Source,
    overlays: list[_Overlay],
    audio: list[str],
    css_path: str,
    narrator: str,
    language: str | None,
    files: dict[str, bytes],
) -> dict[str, bytes]:
    """The rewritten OPF (and a navigation document when the book had none)."""
    root = source.opf.getroot()
    root.set("version", "3.0")
    metadata = source.metadata
    _epub3_metadata(metadata, language)
    manifest = root.find(f"{{{OPF_NS}}}manifest")
    added: dict[str, bytes] = {}
    if not any("nav" in i.element.get("properties", "").split() for i in source.items.values()):
        nav_path = posixpath.join(source.opf_dir, "ownvoice-nav.xhtml")
        nav = _nav_from_ncx(source, nav_path, language or "en")
        if nav is None:
            raise ReadAlongError("This EPUB has no table of contents to build a navigation from.")
        added[nav_path] = nav
        _manifest_item(manifest, "ownvoice-nav", _href(source.opf_path, nav_path), XHTML_TYPE)
        manifest[-1].set("properties", "nav")
    for item in source.items.values():
        item.element.attrib.pop("media-overlay", None)
    _mark_cover_image(source)
    for number, path in enumerate(dict.fromkeys(audio), start=1):
        media_type = AUDIO_TYPES[posixpath.splitext(path)[1]]
        _manifest_item(
            manifest, f"ownvoice-audio-{number:04d}", _href(source.opf_path, path), media_type
        )
    _manifest_item(manifest, "ownvoice-css", _href(source.opf_path, css_path), "text/css")
    for overlay in overlays:
        href = _href(source.opf_path, overlay.path)
        _manifest_item(manifest, overlay.id, href, "application/smil+xml")
        overlay.page.element.set("media-overlay", overlay.id)
        _meta(metadata, "media:duration", _clock(overlay.duration_ms), f"#{overlay.id}")
    _meta(metadata, "media:duration", _clock(sum(o.duration_ms for o in overlays)))
    _meta(metadata, "media:narrator", narrator)
    _meta(metadata, "media:active-class", ACTIVE_CLASS)
    _without_opf_prefix(metadata)
    added[source.opf_path] = etree.tostring(
        source.opf, xml_declaration=True, encoding="utf-8", pretty_print=True
    )
    return added


def _write_archive(source: _Source, parts: _Parts, out: Path) -> None:
    """mimetype first and stored; the source's files (or their new versions); the new files;
    audio stored (already compressed). Written to a temporary file, fsynced, then renamed."""
    temporary = out.with_name(f"{PARTIAL}{out.name}")  # swept at start if a crash leaves it
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
            target.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
            written = {"mimetype"}
            for info in source.archive.infolist():
                if info.filename in written or info.is_dir():
                    continue
                data = parts.files.get(info.filename)
                target.writestr(
                    info.filename, data if data is not None else source.read(info.filename)
                )
                written.add(info.filename)
            for path, data in parts.files.items():
                if path not in written:
                    target.writestr(path, data)
            for path, audio_file in parts.audio.items():
                target.write(audio_file, path, compress_type=zipfile.ZIP_STORED)
        fsync_replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
