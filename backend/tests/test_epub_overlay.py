"""The EPUB 3 read-along writer: real books (a built EPUB 2 and Alice), real chapter audio encoded
with PyAV, sentences from the real import code, and the result checked by EPUBCheck itself."""

from __future__ import annotations

import io
import json
import math
import posixpath
import re
import shutil
import struct
import subprocess
import unicodedata
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
from audio_files import reencode
from books_fixtures import ALICE_EPUB, EPUB2_CHAPTERS, _ncx, build_epub2
from lxml import etree

from app.services.books.epub import parse_epub
from app.services.books.html_text import _clean
from app.services.books.store import book_rows
from app.services.exports.assemble import Pauses, SentenceAudio, lay_out
from app.services.exports.epub_overlay import write_read_along_epub
from app.services.exports.epub_text import ReadAlongError
from app.services.exports.timeline import ChapterAudio, SentenceTiming, WordTiming
from app.services.transcode import decoded_pcm

OPF_NS = "http://www.idpf.org/2007/opf"
SMIL_NS = "http://www.w3.org/ns/SMIL"
XHTML_NS = "http://www.w3.org/1999/xhtml"
RATE = 16000
SENTENCE_S = 0.25  # each sentence's slot in the tone; 0.2 s of it is the sentence
NARRATOR = "Ada's voice"


# Two more pages for the EPUB 2: one page with two chapters (the NCX points at its anchors), whose
# sentences cross inline elements, and a page with no NCX entry that continues the second chapter.
SPLIT_PAGES = [
    (
        "chap4.html",
        "",
        '<h2 id="a">Part A</h2><p>Alpha <em>one. Alpha</em> two.</p>'
        '<h2 id="b">Part B</h2><p>Beta <a href="chap2.html">one. <b>Beta two</b></a>, done.</p>',
    ),
    # "* * *" has nothing to say: the import joins it to the sentence before, across paragraphs
    ("chap5.html", "", "<p>Gamma <i>continues</i> here.</p>\n<p>* * *</p>"),
    # EPUB 2's presentational markup, which an EPUB 3 may not have: made CSS, its text kept
    (
        "chap6.html",
        "",
        '<p align="center"><a name="pg1"></a>It was fine.</p><table summary="x" border="1" '
        'cellpadding="2" width="100%"><tr><td valign="top" align="left">Cell text.</td></tr>'
        '</table><br clear="all"/><center>Centered text.</center><p><font size="2" color="red">'
        'Small text.</font></p><img src="cover.png" alt="" border="0" align="left"/>'
        '<hr noshade="noshade" size="1"/><ul type="disc"><li>Item.</li></ul>',
    ),
]
SPLIT_TOC = [
    ("chap4.html#a", "Part A", ""),
    ("chap4.html#b", "Part B", ""),
    ("chap6.html", "Old Markup", ""),
]


def _replaced(epub: bytes, members: dict[str, str]) -> bytes:
    """The EPUB with some members' contents replaced."""
    built = zipfile.ZipFile(io.BytesIO(epub))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in built.infolist():
            data = members[info.filename].encode() if info.filename in members else built.read(info)
            archive.writestr(info, data, compress_type=info.compress_type)
    return out.getvalue()


def _epub2_with_split_pages() -> bytes:
    """build_epub2 with SPLIT_PAGES, its NCX pointing into chap4 and not at chap5."""
    built = build_epub2(chapters=EPUB2_CHAPTERS + SPLIT_PAGES)
    return _replaced(built, {"OEBPS/toc.ncx": _ncx(EPUB2_CHAPTERS + SPLIT_TOC)})


@dataclass
class Case:
    source: Path
    out: Path
    chapters: list[ChapterAudio]


def _tone(path: Path, seconds: float, container: str, codec: str) -> None:
    """A quiet 440 Hz tone of `seconds`, encoded by PyAV (AAC in M4A, or MP3)."""
    wav = path.with_suffix(".wav")
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        count = round(seconds * RATE)
        samples = (round(3000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(count))
        out.writeframes(struct.pack(f"<{count}h", *samples))
    path.write_bytes(reencode(wav, container, codec, rate=RATE))


def _imported_chapters(source: Path) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(chapter id, title, [(sentence id, text)]) as the app's import stores them."""
    rows = book_rows(parse_epub(source))
    chapters = []
    for chapter in rows.chapters:
        if chapter["front_matter"]:
            continue
        sentences = sorted(
            (s for s in rows.sentences if s["chapter_id"] == chapter["id"]),
            key=lambda s: s["position"],
        )
        chapters.append(
            (chapter["id"], chapter["title"], [(s["id"], s["text"]) for s in sentences])
        )
    return chapters


_PUNCTUATION = "".join(
    chr(c) for c in range(0x3000) if unicodedata.category(chr(c)).startswith("P")
)
BAD_OFFSETS = "The sun rose."  # its words' offsets are wrong in the "words" case


def _timed_words(text: str, start: float, end: float) -> tuple[WordTiming, ...]:
    """The sentence's words as the verifier reports them (the source text's words without
    surrounding punctuation, each with its first character), spread over the sentence with a
    short silence before the first and between words."""
    found = []
    for match in re.finditer(r"\S+", text):
        raw = match.group(0)
        core = raw.strip(_PUNCTUATION)
        if core:
            found.append((core, match.start() + len(raw) - len(raw.lstrip(_PUNCTUATION))))
    step = (end - start - 0.01) / len(found)
    shift = 1 if text == BAD_OFFSETS else 0
    return tuple(
        WordTiming(core, offset + shift, start + 0.01 + k * step, start + 0.01 + (k + 0.8) * step)
        for k, (core, offset) in enumerate(found)
    )


def _chapter_audio(
    folder: Path,
    number: int,
    chapter: tuple[str, str, list[tuple[str, str]]],
    mp3: bool,
    words: bool = False,
) -> ChapterAudio:
    chapter_id, title, sentences = chapter
    timings = []
    for i, (sid, text) in enumerate(sentences):
        start, end = round(i * SENTENCE_S + 0.05, 3), round(i * SENTENCE_S + 0.25, 3)
        timed = _timed_words(text, start, end) if words else ()
        timings.append(SentenceTiming(sid, text, start, end, timed))
    duration = len(sentences) * SENTENCE_S + 0.5
    path = folder / f"{number}.{'mp3' if mp3 else 'm4a'}"
    _tone(path, duration, "mp3" if mp3 else "ipod", "libmp3lame" if mp3 else "aac")
    return ChapterAudio(chapter_id, title, path, duration, timings)


def _make_case(
    folder: Path, source: Path, pick: slice, mp3_last: bool, words: bool = False
) -> Case:
    folder.mkdir()
    imported = _imported_chapters(source)[pick]
    chapters = [
        _chapter_audio(folder, n, chapter, mp3=mp3_last and n == len(imported) - 1, words=words)
        for n, chapter in enumerate(imported)
    ]
    out = folder / "read-along.epub"
    write_read_along_epub(source, chapters, out, narrator=NARRATOR, language="en")
    return Case(source, out, chapters)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("read-along")
    epub2 = root / "story.epub"
    epub2.write_bytes(_epub2_with_split_pages())
    return {
        # the EPUB 2 (no nav document, XHTML 1.1 doctype, entities, a footnote): every chapter
        "epub2": _make_case(root / "epub2", epub2, slice(None), mp3_last=True),
        # Alice (EPUB 3): its second and third chapters
        "alice": _make_case(root / "alice", ALICE_EPUB, slice(1, 3), mp3_last=False),
        # the EPUB 2 again, every sentence with word timings (as a heard cache entry has them)
        "words": _make_case(root / "words", epub2, slice(None), mp3_last=True, words=True),
    }


# ---------- reading the result ----------


def _opf(archive: zipfile.ZipFile) -> tuple[str, etree._Element]:
    container = etree.fromstring(archive.read("META-INF/container.xml"))
    path = container.find(".//{*}rootfile").get("full-path")
    return path, etree.fromstring(archive.read(path))


def _manifest(archive: zipfile.ZipFile) -> dict[str, tuple[str, etree._Element]]:
    """Manifest id → (archive path, item element)."""
    opf_path, opf = _opf(archive)
    base = posixpath.dirname(opf_path)
    return {
        item.get("id"): (posixpath.normpath(posixpath.join(base, unquote(item.get("href")))), item)
        for item in opf.iter(f"{{{OPF_NS}}}item")
    }


def _spine_pages(archive: zipfile.ZipFile) -> list[str]:
    _, opf = _opf(archive)
    manifest = _manifest(archive)
    return [manifest[ref.get("idref")][0] for ref in opf.iter(f"{{{OPF_NS}}}itemref")]


def _seconds(clock: str) -> float:
    if clock.endswith("s"):
        return float(clock[:-1])
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _wrapped_sentences(archive: zipfile.ZipFile) -> list[tuple[str, str]]:
    """Every id'd sentence element in reading order: (id, its text, whitespace collapsed)."""
    found = []
    for page in _spine_pages(archive):
        root = etree.fromstring(archive.read(page))
        for element in root.iter(f"{{{XHTML_NS}}}span", f"{{{XHTML_NS}}}div"):
            if element.get("id", "").startswith("ov-"):
                found.append((element.get("id"), _clean("".join(element.itertext()))))
    return found


# ---------- the tests ----------


def _epubcheck_command() -> list[str] | None:
    binary = shutil.which("epubcheck")
    if binary is None:
        return None
    jar, java = Path(binary).resolve(), shutil.which("java")
    if jar.suffix != ".jar" or java is None:
        return [binary]  # a launcher script (Homebrew)
    # Debian's /usr/bin/epubcheck is the jar itself, run through binfmt_misc, which containers
    # often lack: start it with java. The quick JIT and the serial collector halve a short run.
    return [java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", str(jar)]


def test_epubcheck_finds_no_errors(cases: dict[str, Case], tmp_path: Path) -> None:
    command = _epubcheck_command()
    if command is None:
        pytest.skip(
            "epubcheck is not installed: run scripts/install_system.sh test (apt epubcheck)"
        )
    runs = {
        name: subprocess.Popen(
            [*command, str(case.out), "--json", str(tmp_path / f"{name}.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, case in cases.items()
    }
    problems = []
    for name, run in runs.items():
        output, _ = run.communicate(timeout=300)  # three at once, on a shared machine
        report = json.loads((tmp_path / f"{name}.json").read_text())
        errors = [m for m in report["messages"] if m["severity"] in ("ERROR", "FATAL")]
        problems += [f"{name}: {m['ID']} {m['message']} {m['locations'][:1]}" for m in errors]
        if run.returncode != 0 and not errors:
            problems.append(f"{name}: epubcheck exited {run.returncode}:\n{output}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["epub2", "alice"])
def test_every_sentence_is_one_element_with_its_text(cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    expected = [(f"ov-{s.sentence_id}", s.text) for c in case.chapters for s in c.sentences]
    with zipfile.ZipFile(case.out) as archive:
        assert _wrapped_sentences(archive) == expected


@pytest.mark.parametrize("name", ["epub2", "alice"])
def test_one_par_per_sentence_with_its_clip(cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    timings = {f"ov-{s.sentence_id}": s for c in case.chapters for s in c.sentences}
    audio_of = {f"ov-{s.sentence_id}": n for n, c in enumerate(case.chapters) for s in c.sentences}
    seen = []
    with zipfile.ZipFile(case.out) as archive:
        manifest = _manifest(archive)
        for page in _spine_pages(archive):
            item = next(i for p, i in manifest.values() if p == page)
            if item.get("media-overlay") is None:
                continue
            smil_path, smil_item = manifest[item.get("media-overlay")]
            assert smil_item.get("media-type") == "application/smil+xml"
            smil = etree.fromstring(archive.read(smil_path))
            page_ids = set(etree.fromstring(archive.read(page)).xpath("//@id"))
            audio_files = {}
            for par in smil.iter(f"{{{SMIL_NS}}}par"):
                text, audio = par.find(f"{{{SMIL_NS}}}text"), par.find(f"{{{SMIL_NS}}}audio")
                target, _, element_id = text.get("src").partition("#")
                assert (
                    posixpath.normpath(posixpath.join(posixpath.dirname(smil_path), target)) == page
                )
                assert element_id in page_ids
                timing = timings[element_id]
                assert _seconds(audio.get("clipBegin")) == pytest.approx(timing.start, abs=1e-9)
                assert _seconds(audio.get("clipEnd")) == pytest.approx(timing.end, abs=1e-9)
                audio_path = posixpath.normpath(
                    posixpath.join(posixpath.dirname(smil_path), unquote(audio.get("src")))
                )
                audio_files.setdefault(audio_of[element_id], audio_path)
                assert audio_files[audio_of[element_id]] == audio_path
                seen.append(element_id)
            for number, audio_path in audio_files.items():
                source = case.chapters[number].audio_path
                assert archive.read(audio_path) == source.read_bytes()
                media_type = "audio/mpeg" if source.suffix == ".mp3" else "audio/mp4"
                assert (
                    next(i for p, i in manifest.values() if p == audio_path).get("media-type")
                    == media_type
                )
    assert seen == list(timings)


@pytest.mark.parametrize("name", ["epub2", "alice", "words"])
def test_package_has_overlay_metadata(cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    with zipfile.ZipFile(case.out) as archive:
        _, opf = _opf(archive)
        manifest = _manifest(archive)
        metas = opf.findall(f"{{{OPF_NS}}}metadata/{{{OPF_NS}}}meta")
        durations = {
            m.get("refines"): _seconds(m.text)
            for m in metas
            if m.get("property") == "media:duration"
        }
        overlays = {
            f"#{i.get('media-overlay')}" for _, i in manifest.values() if i.get("media-overlay")
        }
        props = {m.get("property"): m.text for m in metas if m.get("property")}
        nav = [p for p, i in manifest.values() if "nav" in (i.get("properties") or "").split()]
        css = [
            archive.read(p).decode()
            for p, i in manifest.values()
            if i.get("media-type") == "text/css"
        ]
    assert opf.get("version") == "3.0"
    assert set(durations) - {None} == overlays
    total = sum(round(c.duration * 1000) for c in case.chapters) / 1000
    assert durations[None] == pytest.approx(total, abs=1e-9)
    assert sum(v for k, v in durations.items() if k) == pytest.approx(total, abs=1e-9)
    assert props["media:narrator"] == NARRATOR
    assert any(f".{props['media:active-class']} " in sheet for sheet in css)
    assert len(nav) == 1


def _overlay_entries(archive: zipfile.ZipFile) -> list[tuple[etree._Element, etree._Element]]:
    """(page root, SMIL body child: a <par> or a <seq>) for every page with an overlay."""
    manifest = _manifest(archive)
    entries = []
    for page in _spine_pages(archive):
        item = next(i for p, i in manifest.values() if p == page)
        if item.get("media-overlay") is not None:
            root = etree.fromstring(archive.read(page))
            smil = etree.fromstring(archive.read(manifest[item.get("media-overlay")][0]))
            entries += [(root, child) for child in smil.find(f"{{{SMIL_NS}}}body")]
    return entries


def _clip(par: etree._Element) -> tuple[str, float, float]:
    audio = par.find(f"{{{SMIL_NS}}}audio")
    element_id = par.find(f"{{{SMIL_NS}}}text").get("src").partition("#")[2]
    return element_id, _seconds(audio.get("clipBegin")), _seconds(audio.get("clipEnd"))


def test_timed_words_nest_in_their_sentence_and_play_it_in_order(cases: dict[str, Case]) -> None:
    """Every timed word is one element inside its sentence's, with its text; the sentence is a
    <seq> of word <par>s whose clips follow each other from the sentence's start to its end.
    A sentence that crosses blocks, or whose words are not where their offsets say, stays one
    <par> without word elements."""
    case = cases["words"]
    timings = {f"ov-{s.sentence_id}": s for c in case.chapters for s in c.sentences}
    whole, seen = [], []
    with zipfile.ZipFile(case.out) as archive:
        entries = _overlay_entries(archive)
    for root, entry in entries:
        if etree.QName(entry).localname == "par":
            element_id, begin, end = _clip(entry)
            assert root.xpath(f"//*[starts-with(@id, '{element_id}-w')]") == []
            whole.append(timings[element_id].text)
            seen.append(element_id)
            continue
        sentence_id = entry.get("{http://www.idpf.org/2007/ops}textref").partition("#")[2]
        sentence = timings[sentence_id]
        wrapper = root.find(f".//*[@id='{sentence_id}']")
        clips = [_clip(par) for par in entry]
        assert len(clips) == len(sentence.words)  # none shorter than a millisecond here
        at = sentence.start
        for (word_id, begin, end), word in zip(clips, sentence.words, strict=True):
            element = wrapper.find(f".//*[@id='{word_id}']")
            assert element is not None, word_id
            assert _clean("".join(element.itertext())) == word.word
            assert begin == pytest.approx(at, abs=5e-4) and begin < end
            assert sentence.start - 5e-4 <= begin and end <= sentence.end + 5e-4
            at = end
        assert at == pytest.approx(sentence.end, abs=5e-4)
        if len(clips) > 1:  # a word's clip starts where the recognizer heard it start
            assert clips[1][1] == pytest.approx(sentence.words[1].start, abs=5e-4)
        seen.append(sentence_id)
    assert seen == list(timings)
    assert whole == [BAD_OFFSETS, "Gamma continues here. * * *"]


READIUM_CHECK = Path(__file__).parent / "readium" / "overlays.cjs"


def _thorium_reads(epub: Path) -> dict:
    """What Thorium Reader's EPUB parser (r2-shared-js) finds in `epub` (readium/overlays.cjs)."""
    if not (READIUM_CHECK.parent / "node_modules" / "r2-shared-js").is_dir():
        pytest.fail("Thorium's parser is not installed: run make test (npm ci in tests/readium)")
    done = subprocess.run(
        ["node", str(READIUM_CHECK), str(epub)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _clips_as_written(archive: zipfile.ZipFile) -> list[tuple[str, float, float, str | None]]:
    """Every timed leaf of the overlays, from our own reading of the SMIL: (element id, clip
    begin, clip end, the id of the sentence a word plays in)."""
    clips = []
    for _, entry in _overlay_entries(archive):
        if etree.QName(entry).localname == "par":
            clips.append((*_clip(entry), None))
            continue
        sentence_id = entry.get("{http://www.idpf.org/2007/ops}textref").partition("#")[2]
        clips += [(*_clip(par), sentence_id) for par in entry]
    return clips


@pytest.mark.parametrize("name", ["epub2", "alice", "words"])
def test_thorium_readers_parser_plays_every_clip_in_order(
    cases: dict[str, Case], name: str
) -> None:
    """Thorium Reader's own parser finds an overlay on every page that has one, with the
    narrator, the active class and the durations; its clips are ours, in order, each pointing
    at an element of its page and at audio in the book, inside that audio."""
    case = cases[name]
    found = _thorium_reads(case.out)
    with zipfile.ZipFile(case.out) as archive:
        members = set(archive.namelist())
        written = _clips_as_written(archive)
        _, opf = _opf(archive)
        props = {m.get("property"): m.text for m in opf.iter(f"{{{OPF_NS}}}meta")}
        pages = {
            page["href"]: etree.fromstring(archive.read(page["href"]))
            for page in found["spine"]
            if page["clips"]
        }
        audio_s = {
            path: len(decoded_pcm(archive.read(path))) / 48000
            for path in members
            if path.endswith((".m4a", ".mp3"))
        }
    assert found["narrators"] == [NARRATOR]
    assert found["activeClass"] == props["media:active-class"]
    total = sum(round(c.duration * 1000) for c in case.chapters) / 1000
    assert found["duration"] == pytest.approx(total, abs=1e-3)
    overlaid = [page for page in found["spine"] if page["clips"]]
    assert sum(page["duration"] for page in overlaid) == pytest.approx(total, abs=1e-3)

    read = []
    for page in overlaid:
        at: dict[str, float] = {}
        for clip in page["clips"]:
            path, _, element_id = clip["text"].partition("#")
            assert path == page["href"], clip  # a page's overlay plays that page
            assert pages[path].find(f".//*[@id='{element_id}']") is not None, clip
            assert clip["audio"] in members, clip
            assert at.get(clip["audio"], 0.0) - 5e-4 <= clip["begin"] < clip["end"], clip
            assert clip["end"] <= audio_s[clip["audio"]] + 0.05, clip  # (an encoder's padding)
            at[clip["audio"]] = clip["end"]
            within = clip["within"].partition("#")[2] if clip["within"] else None
            read.append((element_id, clip["begin"], clip["end"], within))
    assert len(read) == len(written)
    for (found_id, begin, end, within), (ours, our_begin, our_end, our_within) in zip(
        read, written, strict=True
    ):
        assert (found_id, within) == (ours, our_within)
        assert (begin, end) == pytest.approx((our_begin, our_end), abs=5e-4)


def test_epub2_keeps_its_content_and_gains_a_nav(cases: dict[str, Case]) -> None:
    with zipfile.ZipFile(cases["epub2"].out) as archive:
        names = archive.namelist()
        manifest = _manifest(archive)
        nav = etree.fromstring(archive.read("OEBPS/ownvoice-nav.xhtml"))
        chapter = archive.read("OEBPS/chap1.html").decode()
        assert archive.read("OEBPS/cover.png") == zipfile.ZipFile(cases["epub2"].source).read(
            "OEBPS/cover.png"
        )
    cover = next(i for p, i in manifest.values() if p == "OEBPS/cover.png")
    assert cover.get("properties") == "cover-image"
    assert names[0] == "mimetype"
    assert [a.text for a in nav.iter(f"{{{XHTML_NS}}}a")] == [
        "The First Morning",
        "Second Thoughts",
        "The Last Word",
        "Part A",
        "Part B",
        "Old Markup",
    ]
    assert "<!DOCTYPE html>" in chapter and 'id="fn1"' in chapter and "1. A footnote." in chapter


def test_chapters_split_and_shared_across_pages(cases: dict[str, Case]) -> None:
    """Part A and B share chap4's overlay; Part B goes on in chap5 with an overlay of its own,
    and its duration is shared out at the clip where chap5 starts."""
    case = cases["epub2"]
    part_a, part_b = case.chapters[3], case.chapters[4]
    assert [s.text for s in part_a.sentences] == ["Alpha one.", "Alpha two."]
    assert [s.text for s in part_b.sentences] == [
        "Beta one.",
        "Beta two, done.",
        "Gamma continues here. * * *",
    ]
    with zipfile.ZipFile(case.out) as archive:
        manifest = _manifest(archive)
        _, opf = _opf(archive)
        overlay = {p: i.get("media-overlay") for p, i in manifest.values()}
        durations = {
            m.get("refines"): _seconds(m.text)
            for m in opf.iter(f"{{{OPF_NS}}}meta")
            if m.get("property") == "media:duration"
        }
        page4 = etree.fromstring(archive.read("OEBPS/chap4.html"))
        page5 = etree.fromstring(archive.read("OEBPS/chap5.html"))
    gamma = part_b.sentences[2].start
    assert durations[f"#{overlay['OEBPS/chap4.html']}"] == pytest.approx(
        part_a.duration + gamma, abs=1e-9
    )
    assert durations[f"#{overlay['OEBPS/chap5.html']}"] == pytest.approx(
        part_b.duration - gamma, abs=1e-9
    )
    # a sentence over two paragraphs is one <div> around both
    wrapper = page5.find(f".//*[@id='ov-{part_b.sentences[2].sentence_id}']")
    assert etree.QName(wrapper).localname == "div"
    assert [etree.QName(p).localname for p in wrapper] == ["p", "p"]
    # the inline elements a sentence boundary cut through are split, their markup kept
    paragraphs = [
        re.sub(r' xmlns(:\w+)?="[^"]*"', "", etree.tostring(p, encoding="unicode"))
        for p in page4.iter(f"{{{XHTML_NS}}}p")
    ]
    ids = [f"ov-{s.sentence_id}" for s in (*part_a.sentences, *part_b.sentences)]
    assert paragraphs == [
        f'<p><span id="{ids[0]}">Alpha <em>one.</em></span><em> </em>'
        f'<span id="{ids[1]}"><em>Alpha</em> two.</span></p>',
        f'<p><span id="{ids[2]}">Beta <a href="chap2.html">one.</a></span>'
        f'<a href="chap2.html"> </a><span id="{ids[3]}"><a href="chap2.html"><b>Beta two</b>'
        "</a>, done.</span></p>",
    ]


def test_epub2_presentational_markup_becomes_css(cases: dict[str, Case]) -> None:
    with zipfile.ZipFile(cases["epub2"].out) as archive:
        page = etree.fromstring(archive.read("OEBPS/chap6.html"))
    body = page.find(f"{{{XHTML_NS}}}body")
    styled = [
        (etree.QName(e).localname, dict(e.attrib))
        for e in body.iter()
        if not e.get("id", "").startswith("ov-")
    ]
    assert styled == [
        ("body", {}),
        ("p", {"style": "text-align: center"}),
        ("a", {"name": "pg1"}),
        ("table", {"border": "1", "style": "width: 100%"}),
        ("tr", {}),
        ("td", {"style": "vertical-align: top; text-align: left"}),
        ("br", {"style": "clear: both"}),
        ("div", {"style": "text-align: center"}),
        ("p", {}),
        ("span", {"style": "font-size: small; color: red"}),
        ("img", {"src": "cover.png", "alt": "", "style": "border: 0px solid; float: left"}),
        ("hr", {"style": "height: 1px"}),
        ("ul", {"style": "list-style-type: disc"}),
        ("li", {}),
    ]


def test_a_sentence_not_in_the_book_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "story.epub"
    source.write_bytes(build_epub2())
    chapter_id, title, sentences = _imported_chapters(source)[1]
    sentences = [*sentences[:1], ("x" * 32, "A sentence this book never had.")]
    chapter = _chapter_audio(tmp_path, 0, (chapter_id, title, sentences), mp3=False)
    out = tmp_path / "out.epub"
    with pytest.raises(ReadAlongError, match="never had.*import it again"):
        write_read_along_epub(source, [chapter], out, narrator=NARRATOR)
    assert not out.exists() and not list(tmp_path.glob(".*.part"))


def test_timings_past_the_audio_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "story.epub"
    source.write_bytes(build_epub2())
    chapter = _chapter_audio(tmp_path, 0, _imported_chapters(source)[0], mp3=False)
    late = ChapterAudio(
        chapter.chapter_id, chapter.title, chapter.audio_path, 0.1, chapter.sentences
    )
    with pytest.raises(ReadAlongError, match="after the chapter's audio"):
        write_read_along_epub(source, [late], tmp_path / "out.epub", narrator=NARRATOR)


def test_audio_shorter_than_its_timings_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "story.epub"
    source.write_bytes(build_epub2())
    chapter = _chapter_audio(tmp_path, 0, _imported_chapters(source)[0], mp3=False)
    short = tmp_path / "short.m4a"
    _tone(short, chapter.duration - 0.5, "ipod", "aac")
    cut = ChapterAudio(
        chapter.chapter_id, chapter.title, short, chapter.duration, chapter.sentences
    )
    with pytest.raises(ReadAlongError, match="less than the .* its timings need"):
        write_read_along_epub(source, [cut], tmp_path / "out.epub", narrator=NARRATOR)


@pytest.mark.parametrize("content", [None, b"not audio at all"])
def test_missing_or_broken_audio_is_refused(tmp_path: Path, content: bytes | None) -> None:
    source = tmp_path / "story.epub"
    source.write_bytes(build_epub2())
    chapter = _chapter_audio(tmp_path, 0, _imported_chapters(source)[0], mp3=False)
    broken = tmp_path / "broken.m4a"
    if content is not None:
        broken.write_bytes(content)
    bad = ChapterAudio(
        chapter.chapter_id, chapter.title, broken, chapter.duration, chapter.sentences
    )
    with pytest.raises(ReadAlongError, match="cannot be read .*render it again"):
        write_read_along_epub(source, [bad], tmp_path / "out.epub", narrator=NARRATOR)


def test_a_page_reaching_for_a_server_file_is_refused(tmp_path: Path) -> None:
    """An external entity would copy a file of the server into the user's export."""
    secret = tmp_path / "secret.txt"
    secret.write_text("server secret")
    page = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<!DOCTYPE html [<!ENTITY leak SYSTEM "file://{secret}">]>\n'
        f'<html xmlns="{XHTML_NS}"><head><title>x</title></head>'
        "<body><p>The end came quietly. &leak;</p></body></html>"
    )
    source = tmp_path / "story.epub"
    source.write_bytes(_replaced(build_epub2(), {"OEBPS/chap3.html": page}))
    chapter = _chapter_audio(tmp_path, 0, _imported_chapters(source)[0], mp3=False)
    out = tmp_path / "out.epub"
    with pytest.raises(ReadAlongError, match="chap3.html is not well-formed XML.*leak"):
        write_read_along_epub(source, [chapter], out, narrator=NARRATOR)
    assert not out.exists()


def test_a_heard_sentences_words_move_to_the_chapter_timeline(tmp_path: Path) -> None:
    """lay_out carries the cache entry's words (seconds in the sentence's own audio) to the
    chapter's time, kept inside the sentence and in order; malformed words give none."""
    pcm = tmp_path / "a.pcm"
    pcm.write_bytes(bytes(2 * 24000))  # one second
    words = [
        {"word": "One", "start": 0.1, "end": 0.4, "offset": 0, "heard": True},
        {"word": "two", "start": 0.05, "end": 1.7, "offset": 4, "heard": False},
    ]
    sentences = [
        SentenceAudio("s1", "Hi.", "p1", pcm),
        SentenceAudio("s2", "One two.", "p1", pcm, words),
        SentenceAudio("s3", "Bad.", "p1", pcm, [{"word": "Bad"}]),
    ]
    timeline = lay_out("c1", "Chapter", sentences, Pauses(0.5, 1.0, 2.0))
    assert [s.words for s in timeline.sentences] == [
        (),
        (WordTiming("One", 0, 1.6, 1.9), WordTiming("two", 4, 1.6, 2.5)),
        (),
    ]
