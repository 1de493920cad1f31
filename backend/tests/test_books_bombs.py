"""Books cannot be bombs: every hostile EPUB gets a clear 4xx within seconds, over the HTTP API.

Each bomb is small to upload and would have cost minutes of CPU (or hundreds of MB) to parse:
nesting that BeautifulSoup handles in quadratic time, markup that compresses 1000:1 in members
too small for a size check, text past the book's character cap ahead of an expensive chapter.
An import that runs past its time budget is refused with a message that says so.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from books_fixtures import (
    ALICE_EPUB,
    CONTAINER_XML,
    PNG_1X1,
    _epub2_opf,
    _ncx,
    _xhtml,
    make_user,
    upload,
)
from servers import AppServer, start_app

pytest_plugins = ("books_fixtures",)

FEW_SECONDS = 10.0  # a refusal takes well under a second; the slack is for a busy test machine


def _bomb_epub(chapters: list[tuple[str, str]], extra: dict[str, bytes] | None = None) -> bytes:
    """An otherwise valid EPUB 2 whose chapters (file name, XHTML body) are the payload."""
    spine = [(name, f"Part {i}", body) for i, (name, body) in enumerate(chapters)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        archive.writestr("META-INF/container.xml", CONTAINER_XML)
        archive.writestr("OEBPS/content.opf", _epub2_opf(spine))
        archive.writestr("OEBPS/toc.ncx", _ncx(spine))
        archive.writestr("OEBPS/cover.html", _xhtml("Cover", "<p>Cover</p>"))
        archive.writestr("OEBPS/cover.png", PNG_1X1)
        for name, body in chapters:
            archive.writestr(f"OEBPS/{name}", _xhtml(name, body))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def nested_bomb(depth: int = 20_000) -> bytes:
    """60 KB of unclosed <i> tags: under any size or ratio floor, minutes for BeautifulSoup."""
    return _bomb_epub([("deep.html", "<p>" + "<i>" * depth + "deep</p>")])


def repeated_markup_bomb(members: int = 40, member_bytes: int = 1000 * 1000) -> bytes:
    """Many members just under the old 1 MB ratio floor, each ~1000:1: 40 MB of XHTML in ~60 KB."""
    paragraph = "<p>a</p>"
    body = paragraph * (member_bytes // len(paragraph))
    return _bomb_epub([(f"c{i}.html", body) for i in range(members)])


def many_members_bomb(members: int = 6000) -> bytes:
    empty_files = {f"OEBPS/x{i}.css": b"" for i in range(members)}
    return _bomb_epub([("c.html", "<p>Hello.</p>")], empty_files)


def text_before_a_bomb(chars: int) -> bytes:
    """A first chapter past the character cap, then a chapter that is expensive to parse."""
    words = "All work and no play. " * (chars // 22 + 1)
    return _bomb_epub([("c1.html", f"<p>{words}</p>"), ("c2.html", "<p>" + "<i>" * 20_000)])


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A character cap a small book can pass: 5,000."""
    server = start_app(tmp_path_factory.mktemp("capped") / "data", MAX_BOOK_TEXT_CHARS="5000")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hurried_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A time budget every import runs past: one nanosecond."""
    server = start_app(
        tmp_path_factory.mktemp("hurried") / "data", OWNVOICE_BOOK_IMPORT_TIMEOUT_S="0.000000001"
    )
    yield server
    server.stop()


def _library(client: httpx.Client) -> list[dict]:
    response = client.get("/api/books")
    assert response.status_code == 200, response.text
    return response.json()


def _refused_fast(client: httpx.Client, data: bytes, status: int, words: str) -> None:
    before = _library(client)
    started = time.monotonic()
    response = upload(client, "bomb.epub", data, "application/epub+zip")
    elapsed = time.monotonic() - started
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert elapsed < FEW_SECONDS, f"refused after {elapsed:.1f} s"
    assert _library(client) == before


@pytest.mark.parametrize(
    ("build", "status", "words"),
    [
        (nested_bomb, 422, "nested more than 100 elements deep"),
        (repeated_markup_bomb, 413, "compressed more than 100:1"),
        (many_members_bomb, 413, "at most 5000 are accepted"),
    ],
)
def test_a_bomb_gets_a_clear_4xx_within_seconds(
    reader: httpx.Client,
    build,
    status: int,  # noqa: ANN001
    words: str,
) -> None:
    data = build()
    assert len(data) < 1024 * 1024  # small to send, expensive to read
    _refused_fast(reader, data, status, words)


def test_a_member_over_the_size_cap_is_refused_whatever_its_ratio(reader: httpx.Client) -> None:
    # 17 MB of varied text compresses only ~3:1, so no ratio check catches it.
    line = "<p>Line {} of a chapter far too long for one file.</p>"
    body = "".join(line.format(n) for n in range(320_000))
    data = _bomb_epub([("huge.html", body)])
    _refused_fast(reader, data, 413, "A file in this EPUB unpacks to more than 16 MB")


def test_parsing_stops_as_soon_as_the_character_cap_is_passed(capped_server: AppServer) -> None:
    client = make_user(capped_server)
    try:  # the chapter after the cap would take minutes to parse: it is never reached
        _refused_fast(client, text_before_a_bomb(6000), 413, "more than 5,000 characters of text")
    finally:
        client.close()


def test_an_import_past_its_time_budget_is_refused(hurried_server: AppServer) -> None:
    client = make_user(hurried_server)
    try:
        _refused_fast(client, ALICE_EPUB.read_bytes(), 422, "This book took too long to read")
    finally:
        client.close()


def test_alice_still_imports_after_the_bombs(reader: httpx.Client) -> None:
    response = upload(reader, "alice.epub", ALICE_EPUB.read_bytes(), "application/epub+zip")
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Alice's Adventures in Wonderland"
