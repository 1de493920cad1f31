"""Fixtures and builders for the books tests: the real app server over HTTP, users, test EPUBs.

Test modules load the fixtures with `pytest_plugins = ("books_fixtures",)`. The server is the
real app (`python -m app`, started by servers.start_app) with a real SQLite file in a temporary
data directory; users are created by the admin and log in through the real auth routes.
"""

from __future__ import annotations

import io
import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import AppServer, start_app

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"
ALICE_EPUB = SHARED_DATA / "books" / "alice.epub"
# A 1x1 PNG: the smallest real image, so cover extraction can be checked by bytes and type.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    server = start_app(tmp_path_factory.mktemp("books") / "data")
    yield server
    server.stop()


def login(server: AppServer, username: str, password: str) -> httpx.Client:
    client = server.client()
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return client


def make_user(server: AppServer) -> httpx.Client:
    """A fresh, logged-in, non-admin user: each test starts with an empty library."""
    username = f"reader-{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    with server.admin() as admin:
        created = admin.post("/api/users", json={"username": username, "password": password})
    assert created.status_code == 201, created.text
    return login(server, username, password)


@pytest.fixture
def reader(live_server: AppServer) -> Iterator[httpx.Client]:
    client = make_user(live_server)
    yield client
    client.close()


@pytest.fixture
def other_reader(live_server: AppServer) -> Iterator[httpx.Client]:
    client = make_user(live_server)
    yield client
    client.close()


# ---------- EPUB builders (zipfile, so every byte of the package is under the test's control) ----------

CONTAINER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""

EPUB2_CHAPTERS = [
    # (file, NCX title, body) — the NCX titles differ from the headings on purpose.
    (
        "chap1.html",
        "The First Morning",
        '<h1>I</h1><p>It was &amp; is a &ldquo;fine&rdquo; day.<sup><a href="#fn1">1</a></sup> '
        'The sun rose.</p><p><img src="cover.png" alt="A picture"/>Birds sang &#8212; loudly.</p>'
        '<div class="footnotes" epub:type="footnote" id="fn1"><p>1. A footnote.</p></div>',
    ),
    ("chap2.html", "Second Thoughts", "<h1>II</h1><p>She said, \u201cNo.\u201d Then she left.</p>"),
    ("chap3.html", "The Last Word", "<h1>III</h1><p>The end came quietly.</p>"),
]


def _xhtml(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        f"<head><title>{title}</title></head><body>{body}</body></html>"
    )


def _epub2_opf(chapters: list[tuple[str, str, str]]) -> str:
    items = "".join(
        f'<item id="c{i}" href="{name}" media-type="application/xhtml+xml"/>'
        for i, (name, _, _) in enumerate(chapters)
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="uid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:title>An EPUB Two Story</dc:title><dc:creator opf:role="aut">Ada Tester</dc:creator>
    <dc:language>de-DE</dc:language><dc:identifier id="uid">urn:uuid:1234</dc:identifier>
    <meta name="cover" content="cover-image"/>
  </metadata>
  <manifest>
    <item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
    <item id="cover-page" href="cover.html" media-type="application/xhtml+xml"/>
    <item id="cover-image" href="cover.png" media-type="image/png"/>
    {items}
  </manifest>
  <spine toc="ncx"><itemref idref="cover-page"/>{spine}</spine>
  <guide><reference type="cover" title="Cover" href="cover.html"/></guide>
</package>"""


def _ncx(chapters: list[tuple[str, str, str]]) -> str:
    points = "".join(
        f'<navPoint id="n{i}" playOrder="{i + 1}"><navLabel><text>{title}</text></navLabel>'
        f'<content src="{name}"/></navPoint>'
        for i, (name, title, _) in enumerate(chapters)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
  <head><meta name="dtb:uid" content="urn:uuid:1234"/></head>
  <docTitle><text>An EPUB Two Story</text></docTitle><navMap>{points}</navMap>
</ncx>"""


def build_epub2(
    extra: dict[str, bytes | str] | None = None, chapters: list[tuple[str, str, str]] | None = None
) -> bytes:
    """A small EPUB 2 with an NCX, a cover page and image, footnotes and entities."""
    chapters = chapters or EPUB2_CHAPTERS
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")  # stored, first
        archive.writestr("META-INF/container.xml", CONTAINER_XML)
        archive.writestr("OEBPS/content.opf", _epub2_opf(chapters))
        archive.writestr("OEBPS/toc.ncx", _ncx(chapters))
        archive.writestr(
            "OEBPS/cover.html", _xhtml("Cover", '<div><img src="cover.png" alt="cover"/></div>')
        )
        archive.writestr("OEBPS/cover.png", PNG_1X1)
        for name, _title, body in chapters:
            archive.writestr(f"OEBPS/{name}", _xhtml(name, body))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def build_zip(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def build_zero_bomb(uncompressed_bytes: int) -> bytes:
    """A valid EPUB shell plus one member of zeros that compresses about 1000:1."""
    buffer = io.BytesIO(build_epub2())
    chunk = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive,
        archive.open("OEBPS/padding.html", "w", force_zip64=True) as member,
    ):
        for _ in range(uncompressed_bytes // len(chunk)):
            member.write(chunk)
    return buffer.getvalue()


def build_lying_zip(declared_size: int, actual: bytes, name: str = "OEBPS/padding.html") -> bytes:
    """An EPUB whose extra member's headers declare `declared_size` but which inflates to `actual`.

    zipfile's reader never returns more than the declared size, and the CRC then fails.
    Written by hand (zipfile would record the true size): local header, deflate data, central
    directory entry and end record, appended to a normal EPUB's members.
    """
    base = zipfile.ZipFile(io.BytesIO(build_epub2()))
    members = [(info.filename, base.read(info.filename)) for info in base.infolist()]
    members.append((name, actual))
    out, central = io.BytesIO(), io.BytesIO()
    for filename, data in members:
        lie = filename == name
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = compressor.compress(data) + compressor.flush()
        crc = zlib.crc32(data)  # a bomb maker patches the sizes; the CRC is the true one
        size = declared_size if lie else len(data)
        offset = out.tell()
        encoded = filename.encode()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(packed), size, len(encoded), 0
            )
            + encoded
            + packed
        )
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(packed),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    directory = central.getvalue()
    start = out.tell()
    out.write(directory)
    out.write(
        struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), start, 0
        )
    )
    return out.getvalue()


def upload(
    client: httpx.Client,
    name: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    **fields: str,
) -> httpx.Response:
    return client.post(
        "/api/books", files={"file": (name, data, content_type)}, data=fields or None
    )
