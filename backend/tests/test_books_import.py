"""The import library on its own: EPUB and text parsing, sentence splitting, archive safety."""

from __future__ import annotations

import zipfile
from pathlib import Path

import database
import pytest
from books_fixtures import (
    ALICE_EPUB,
    PNG_1X1,
    build_epub2,
    build_lying_zip,
    build_zero_bomb,
    build_zip,
)

from app.services.books.epub import parse_epub
from app.services.books.parsed import BookImportError
from app.services.books.safety import ArchiveLimits, FileKind, sniff_kind, vet_epub_archive
from app.services.books.segment import normalize_language, split_sentences
from app.services.books.text import parse_text

LIMITS = ArchiveLimits(max_uncompressed_bytes=200 * 1024 * 1024, max_members=5000, max_ratio=100)
ALICE_TITLES = [
    "Down The Rabbit-Hole",
    "The Pool Of Tears",
    "A Caucus-Race And A Long Tale",
    "The Rabbit Sends In A Little Bill",
    "Advice From A Caterpillar",
    "Pig And Pepper",
    "A Mad Tea-Party",
    "The Queen's Croquet Ground",
    "Who Stole The Tarts?",
    "Alice's Evidence",
]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_alice_chapters_titles_and_metadata() -> None:
    vet_epub_archive(ALICE_EPUB, LIMITS)
    book = parse_epub(ALICE_EPUB)
    assert (book.title, book.author, book.language) == (
        "Alice's Adventures in Wonderland",
        "Lewis Carroll",
        "en",
    )
    body = [c for c in book.chapters if not c.front_matter]
    assert [c.title for c in body] == ALICE_TITLES
    # Cover (linear="no"), contents (nav) and the title page are not in the reading order.
    assert all(c.title not in ("Cover", "Contents", "Title Page") for c in book.chapters)
    assert body[0].paragraphs[0].startswith("Alice was beginning to get very tired of sitting")
    assert body[9].paragraphs[0].startswith('"Here!" cried Alice.')
    assert book.cover is not None and book.cover.media_type == "image/jpeg"
    assert book.cover.data[:3] == b"\xff\xd8\xff"


def test_alice_images_are_skipped_and_text_is_whole() -> None:
    book = parse_epub(ALICE_EPUB)
    text = " ".join(p for c in book.chapters for p in c.paragraphs)
    assert "Illo" not in text  # image alt texts are not read
    assert "[Pg" not in text  # nor page-number anchors
    assert "ORANGE MARMALADE" in text


def test_epub2_with_ncx_titles_footnotes_entities_and_cover(tmp_path: Path) -> None:
    path = _write(tmp_path, "two.epub", build_epub2())
    vet_epub_archive(path, LIMITS)
    book = parse_epub(path)
    assert (book.title, book.author, book.language) == ("An EPUB Two Story", "Ada Tester", "de")
    assert [c.title for c in book.chapters] == [
        "The First Morning",
        "Second Thoughts",
        "The Last Word",
    ]
    first = book.chapters[0].paragraphs
    assert first[0] == "It was & is a \u201cfine\u201d day. The sun rose."  # no footnote marker "1"
    assert first[1] == "Birds sang \u2014 loudly."
    assert all("footnote" not in p for p in first)
    assert book.chapters[1].paragraphs == ["She said, \u201cNo.\u201d Then she left."]
    assert book.cover is not None and (book.cover.data, book.cover.media_type) == (
        PNG_1X1,
        "image/png",
    )


def test_epub3_nav_noteref_aside_and_pagebreak_are_not_read(tmp_path: Path) -> None:
    body = (
        '<section epub:type="chapter"><h1>Heading</h1><p>Real text<a epub:type="noteref" '
        'href="#n1">*</a> continues<span epub:type="pagebreak" title="7">7</span> here.</p>'
        '<aside epub:type="footnote" id="n1"><p>Footnote body.</p></aside></section>'
    )
    data = build_epub2(chapters=[("c.html", "From The NCX", body)])
    book = parse_epub(_write(tmp_path, "three.epub", data))
    assert book.chapters[0].paragraphs == ["Real text continues here."]


def test_chapter_title_falls_back_to_first_heading(tmp_path: Path) -> None:
    chapters = [
        ("a.html", "", "<h2>A Heading Title</h2><p>Body one.</p>"),
        ("b.html", "Listed", "<p>Body two.</p>"),
    ]
    book = parse_epub(_write(tmp_path, "h.epub", build_epub2(chapters=chapters)))
    assert [c.title for c in book.chapters] == ["A Heading Title", "Listed"]


def test_one_file_with_several_toc_entries_is_split_at_their_anchors(tmp_path: Path) -> None:
    body = (
        "<p>Opening words.</p>"
        '<h2><a id="ch1"></a>One</h2><p>First chapter text.</p>'
        '<div id="ch2"><h2>Two</h2><p>Second chapter text.</p></div>'
        '<h2 id="ch3">Three</h2><p>Third <em>chapter</em> text.</p><p>More three.</p>'
    )
    chapters = [
        ("all.html#ch1", "Chapter One", body),
        ("all.html#ch2", "Chapter Two", ""),
        ("all.html#ch3", "Chapter Three", ""),
    ]
    data = build_epub2(chapters=[("all.html", "", body)])
    # Rewrite the NCX so that three entries point into the one file.
    import io

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "OEBPS/toc.ncx":
                points = "".join(
                    f'<navPoint id="n{i}"><navLabel><text>{t}</text></navLabel>'
                    f'<content src="{h}"/></navPoint>'
                    for i, (h, t, _) in enumerate(chapters)
                )
                content = content.replace(
                    content[content.index(b"<navMap>") : content.index(b"</navMap>")],
                    b"<navMap>" + points.encode(),
                )
            target.writestr(info, content)
    book = parse_epub(_write(tmp_path, "one.epub", out.getvalue()))
    assert [(c.title, c.paragraphs) for c in book.chapters] == [
        ("all.html", ["Opening words."]),
        ("Chapter One", ["First chapter text."]),
        ("Chapter Two", ["Second chapter text."]),
        ("Chapter Three", ["Third chapter text.", "More three."]),
    ]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"mimetype": "application/epub+zip"}, "container.xml"),
        (
            {"mimetype": "application/epub+zip", "META-INF/container.xml": "<container/>"},
            "malformed",
        ),
        (
            {
                "mimetype": "application/epub+zip",
                "META-INF/container.xml": '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                '<rootfiles><rootfile full-path="x.opf" media-type="application/oebps-package+xml"/></rootfiles>'
                "</container>",
                "x.opf": "<package><<<broken",
            },
            "malformed",
        ),
        ({"readme.txt": "just a zip"}, "not an EPUB"),
    ],
)
def test_malformed_epubs_are_rejected_with_422(tmp_path: Path, members: dict, message: str) -> None:
    path = _write(tmp_path, "bad.epub", build_zip(members))
    with pytest.raises(BookImportError) as err:
        vet_epub_archive(path, LIMITS)
        parse_epub(path)
    assert err.value.status_code == 422
    assert message in err.value.message


def test_drm_epubs_are_rejected_but_font_obfuscation_is_not(tmp_path: Path) -> None:
    encryption = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
        '<enc:EncryptionMethod Algorithm="{alg}"/><enc:CipherData>'
        '<enc:CipherReference URI="OEBPS/chap1.html"/></enc:CipherData></enc:EncryptedData>'
        "</encryption>"
    )
    drm = _write(
        tmp_path,
        "drm.epub",
        build_epub2(
            {
                "META-INF/encryption.xml": encryption.format(
                    alg="http://www.w3.org/2001/04/xmlenc#aes128-cbc"
                )
            }
        ),
    )
    with pytest.raises(BookImportError, match="DRM") as err:
        vet_epub_archive(drm, LIMITS)
    assert err.value.status_code == 422
    for marker in ("META-INF/rights.xml", "META-INF/sinf.xml", "META-INF/license.lcpl"):
        locked = _write(tmp_path, "locked.epub", build_epub2({marker: "<rights/>"}))
        with pytest.raises(BookImportError, match="DRM"):
            vet_epub_archive(locked, LIMITS)
    fonts = _write(
        tmp_path,
        "fonts.epub",
        build_epub2(
            {"META-INF/encryption.xml": encryption.format(alg="http://www.idpf.org/2008/embedding")}
        ),
    )
    vet_epub_archive(fonts, LIMITS)  # obfuscated fonts only: readable, accepted


def test_zip_bombs_are_refused_without_unpacking(tmp_path: Path) -> None:
    small_limits = ArchiveLimits(
        max_uncompressed_bytes=8 * 1024 * 1024, max_members=50, max_ratio=100
    )
    bomb = _write(tmp_path, "bomb.epub", build_zero_bomb(16 * 1024 * 1024))
    assert bomb.stat().st_size < 200_000
    with pytest.raises(BookImportError) as err:
        vet_epub_archive(bomb, small_limits)
    assert err.value.status_code == 413 and "zip bomb" in err.value.message
    many = _write(tmp_path, "many.epub", build_epub2({f"OEBPS/x{i}.css": "" for i in range(60)}))
    with pytest.raises(BookImportError, match="at most 50") as err:
        vet_epub_archive(many, small_limits)
    assert err.value.status_code == 413


def test_zip_bomb_under_the_size_limit_is_caught_by_its_ratio(tmp_path: Path) -> None:
    bomb = _write(tmp_path, "ratio.epub", build_zero_bomb(4 * 1024 * 1024))
    with pytest.raises(BookImportError, match="compressed more than 100:1") as err:
        vet_epub_archive(bomb, LIMITS)
    assert err.value.status_code == 413


def test_lying_declared_sizes_are_caught_while_unpacking(tmp_path: Path) -> None:
    """A member whose headers claim 1 KB but which inflates to 8 MB: counted, never trusted."""
    liar = _write(tmp_path, "liar.epub", build_lying_zip(1024, b"\0" * (8 * 1024 * 1024)))
    with zipfile.ZipFile(liar) as archive:
        assert archive.getinfo("OEBPS/padding.html").file_size == 1024  # the lie is in place
    with pytest.raises(BookImportError) as err:
        vet_epub_archive(liar, LIMITS)
    assert err.value.status_code == 422 and "damaged" in err.value.message
    honest = _write(tmp_path, "honest.epub", build_lying_zip(12, b"<p>hello</p>"))
    vet_epub_archive(honest, LIMITS)  # the hand-written archive itself is valid


def test_nested_archive_is_rejected(tmp_path: Path) -> None:
    nested = _write(
        tmp_path, "nested.epub", build_epub2({"OEBPS/inner.bin": build_zip({"a": "b"})})
    )
    with pytest.raises(BookImportError, match="another archive"):
        vet_epub_archive(nested, LIMITS)


def test_type_is_decided_by_content_not_name(tmp_path: Path) -> None:
    assert (
        sniff_kind(_write(tmp_path, "book.txt", build_epub2()), claimed_epub=False) is FileKind.EPUB
    )
    assert sniff_kind(_write(tmp_path, "notes.bin", "Grüße.\n".encode()), False) is FileKind.TEXT
    with pytest.raises(BookImportError) as err:
        sniff_kind(_write(tmp_path, "fake.epub", b"plain words, not a zip"), claimed_epub=True)
    assert err.value.status_code == 422 and "not a zip" in err.value.message
    with pytest.raises(BookImportError) as err:
        sniff_kind(_write(tmp_path, "image.txt", PNG_1X1), claimed_epub=False)
    assert err.value.status_code == 415
    with pytest.raises(BookImportError):
        sniff_kind(_write(tmp_path, "latin1.txt", "caf\xe9".encode("latin-1")), claimed_epub=False)


def test_plain_text_chapters_from_gutenberg_headings() -> None:
    text = (
        "Title: Small Tales\nAuthor: A. Writer\n\nCONTENTS\n CHAPTER I. Start\n CHAPTER II. End\n\n"
        "CHAPTER I.\nThe Start\n\nIt began here. It went on,\nacross a wrapped line.\n\n"
        "Second paragraph.\n\nCHAPTER II.\nThe End\n\nIt ended.\n"
    )
    book = parse_text(text, title=None, language="en", fallback_title="file")
    assert (book.title, book.author) == ("Small Tales", "A. Writer")
    body = [c for c in book.chapters if not c.front_matter]
    assert [c.title for c in body] == ["CHAPTER I: The Start", "CHAPTER II: The End"]
    assert body[0].paragraphs == [
        "It began here. It went on, across a wrapped line.",
        "Second paragraph.",
    ]
    assert book.chapters[0].front_matter  # the header and contents list


def test_project_gutenberg_header_and_licence_are_not_read() -> None:
    text = (
        "The Project Gutenberg eBook of Tiny\n\nTitle: Tiny\nAuthor: Some One\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK TINY ***\n\nCHAPTER I.\nOnly\n\nThe story.\n\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK TINY ***\n\nSection 1. General Terms of Use.\n"
    )
    book = parse_text(text, None, "en", "f")
    assert (book.title, book.author) == ("Tiny", "Some One")
    assert [(c.title, c.paragraphs) for c in book.chapters] == [("CHAPTER I: Only", ["The story."])]


def test_plain_text_chapters_from_markdown_and_chapter_colon() -> None:
    md = parse_text("# One\n\nFirst.\n\n## Two\n\nSecond.", "T", "en", "f")
    assert [c.title for c in md.chapters] == ["One", "Two"]
    colon = parse_text(
        "Chapter 1: Arrival\n\nWe came.\n\nChapter 2: Departure\n\nWe went.", "T", "en", "f"
    )
    assert [c.title for c in colon.chapters] == ["Chapter 1: Arrival", "Chapter 2: Departure"]


def test_plain_text_chapters_from_blank_line_runs_and_single_chapter() -> None:
    runs = parse_text(
        "Morning\n\nThe sun rose.\n\n\n\n\nEvening\n\nThe sun set.", None, "en", "Day"
    )
    assert [(c.title, c.paragraphs) for c in runs.chapters] == [
        ("Morning", ["The sun rose."]),
        ("Evening", ["The sun set."]),
    ]
    single = parse_text("Just one paragraph. Two sentences.", "Pasted", "en", "x")
    assert [(c.title, c.paragraphs) for c in single.chapters] == [
        ("Pasted", ["Just one paragraph. Two sentences."])
    ]
    with pytest.raises(BookImportError):
        parse_text(" \n\n ", "Empty", "en", "x")


def test_sentence_splitting_is_language_aware_with_fallback() -> None:
    assert split_sentences("Mr. Smith arrived at 5 p.m. today. He sat.", "en") == [
        "Mr. Smith arrived at 5 p.m. today.",
        "He sat.",
    ]
    assert split_sentences("Das ist z.B. gut. Ja!", "de") == ["Das ist z.B. gut.", "Ja!"]
    assert split_sentences(
        "Hyvää päivää. Mitä kuuluu? Hyvää.", "fi"
    ) == [  # no pysbd model: fallback
        "Hyvää päivää.",
        "Mitä kuuluu?",
        "Hyvää.",
    ]
    assert split_sentences("你好。我很好！", "zh") == ["你好。", "我很好！"]
    assert split_sentences("  \n ", "en") == []
    long = split_sentences("word, " * 300, "en")
    assert len(long) > 1 and all(len(s) <= 600 for s in long)


def test_language_tags_are_normalised() -> None:
    assert normalize_language("en-US") == "en"
    assert normalize_language("pt_BR") == "pt"
    assert normalize_language(None) == "en"
    assert normalize_language("not a tag!") == "en"


# Per damaged member, the outcomes its 25 seeded damages end in: some package files still parse
# (a garbled byte in a comment, a truncation after the root element), an XHTML chapter always does
# (the HTML parser repairs it), and the rest are refused as a 422.
@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("OEBPS/content.opf", {"ok", 422}),
        ("OEBPS/toc.ncx", {"ok", 422}),
        ("OEBPS/chap1.html", {"ok"}),
        ("META-INF/container.xml", {"ok", 422}),
    ],
)
def test_damaged_package_files_never_crash_the_importer(
    tmp_path: Path, member: str, expected: set[str | int], caplog: pytest.LogCaptureFixture
) -> None:
    """Truncated or garbled package files: a book or a clear BookImportError, never a bug."""
    import io
    import random

    from app.core.config import Settings
    from app.services.books.store import UploadedBook, parse_upload

    settings = Settings()
    with zipfile.ZipFile(io.BytesIO(build_epub2())) as original:
        members = {info.filename: original.read(info) for info in original.infolist()}
    content = members[member]
    outcomes: set[str | int] = set()
    for seed in range(25):
        rng = random.Random(seed)
        damaged = bytearray(content[: rng.randrange(len(content))] if seed % 2 else content)
        for _ in range(rng.randrange(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.choice(b"<>&\"'/\x00\xff#;")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as target:
            for name, data in members.items():
                target.writestr(name, bytes(damaged) if name == member else data)
        path = _write(tmp_path, f"damaged-{seed}.epub", out.getvalue())
        try:
            parse_upload(UploadedBook(path=path, filename="x.epub", content_type=None), settings)
            outcomes.add("ok")
        except BookImportError as exc:
            outcomes.add(exc.status_code)
    assert outcomes == expected  # every case ended in one of the two ways above...
    # ...and none through the last-resort handler that turns unexpected exceptions into a 422.
    assert [r.getMessage() for r in caplog.records if r.name == "ownvoice.books"] == []


def test_epub3_written_by_ebooklib_uses_its_nav_with_subfolders(tmp_path: Path) -> None:
    """ebooklib writes nav and NCX; chapters in a subfolder, titles from the nav, cover from the OPF."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("urn:test:3")
    book.set_title("Nav Book")
    book.set_language("fr")
    book.add_author("Claire Auteur")
    book.set_cover("images/cover.png", PNG_1X1, create_page=True)
    chapters = []
    for number, words in enumerate(["Bonjour. Ça va?", "Au revoir. À bientôt!"], start=1):
        chapter = epub.EpubHtml(
            title=f"Partie {number}", file_name=f"text/ch{number}.xhtml", lang="fr"
        )
        chapter.content = f"<h1>{number}</h1><p>{words}</p>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["cover", "nav", *chapters]
    path = tmp_path / "nav.epub"
    epub.write_epub(str(path), book)
    vet_epub_archive(path, LIMITS)
    parsed = parse_epub(path)
    assert (parsed.title, parsed.author, parsed.language) == ("Nav Book", "Claire Auteur", "fr")
    body = [c for c in parsed.chapters if not c.front_matter]
    assert [(c.title, c.paragraphs) for c in body] == [
        ("Partie 1", ["Bonjour. Ça va?"]),
        ("Partie 2", ["Au revoir. À bientôt!"]),
    ]
    assert parsed.cover is not None and parsed.cover.data == PNG_1X1


def test_sentences_keep_every_character_of_alice() -> None:
    """Splitting never drops, adds or changes text: the sentences put together are the paragraph."""
    book = parse_epub(ALICE_EPUB)
    paragraphs = [p for c in book.chapters for p in c.paragraphs]
    total = 0
    for paragraph in paragraphs:
        sentences = split_sentences(paragraph, book.language)
        assert "".join(sentences).replace(" ", "") == paragraph.replace(" ", "")
        total += len(sentences)
    assert total > 1.5 * len(paragraphs)  # it did split (469 sentences in 260 paragraphs)


def test_alice_first_paragraphs_match_the_epub_source() -> None:
    """Each chapter starts with the first <p> of its XHTML file, read here with plain lxml."""
    from lxml import html

    book = parse_epub(ALICE_EPUB)
    with zipfile.ZipFile(ALICE_EPUB) as archive:
        for number, chapter in enumerate(book.chapters, start=1):
            page = html.fromstring(archive.read(f"OPS/chapter_{number:03d}.xhtml"))
            paragraphs = [" ".join(p.text_content().split()) for p in page.iter("{*}p", "p")]
            first = next(text for text in paragraphs if text)
            assert chapter.paragraphs[0] == first, chapter.title


def test_books_with_too_much_text_are_refused_before_splitting(tmp_path: Path) -> None:
    from app.services.books.store import save_book

    settings = database.settings(tmp_path, max_book_text_chars=1000)
    parsed = parse_text("Words here. " * 200, "Long", "en", "x")
    with pytest.raises(BookImportError, match="at most 1,000") as err:
        save_book(None, "user", parsed, "paste", None, settings)  # type: ignore[arg-type]
    assert err.value.status_code == 413
