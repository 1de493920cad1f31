"""The books API through the real app over HTTP: a real SQLite file, real logins, real uploads."""

from __future__ import annotations

import select
import socket
import time
from urllib.parse import urlsplit

import database
import httpx
import pytest
from books_fixtures import ALICE_EPUB, PNG_1X1, build_epub2, build_zero_bomb, upload
from servers import AppServer

# The fixtures (live_server, admin, reader, other_reader) come from this plugin module.
pytest_plugins = ("books_fixtures",)

ALICE_FIRST_SENTENCES = {
    "Down The Rabbit-Hole": "Alice was beginning to get very tired of sitting by her sister on the bank, "
    "and of having nothing to do.",
    "The Pool Of Tears": 'Curiouser and curiouser!" cried Alice',  # (the EPUB lacks the opening quote)
    "A Mad Tea-Party": "There was a table set out under a tree in front of the house, and the March Hare and the "
    "Hatter were having tea at it; a Dormouse was sitting between them, fast asleep.",
    "Alice's Evidence": '"Here!" cried Alice.',
}


def _import_alice(client: httpx.Client) -> dict:
    response = upload(client, "alice.epub", ALICE_EPUB.read_bytes(), "application/epub+zip")
    assert response.status_code == 201, response.text
    return response.json()


def _body_chapters(book: dict) -> list[dict]:
    return [c for c in book["chapters"] if not c["front_matter"]]


def _chapter(client: httpx.Client, book_id: str, chapter_id: str) -> dict:
    response = client.get(f"/api/books/{book_id}/chapters/{chapter_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _library(client: httpx.Client) -> list[dict]:
    response = client.get("/api/books")
    assert response.status_code == 200, response.text
    return response.json()


def test_alice_imports_with_its_ten_chapters_and_first_sentences(reader: httpx.Client) -> None:
    book = _import_alice(reader)
    assert (book["title"], book["author"], book["language"]) == (
        "Alice's Adventures in Wonderland",
        "Lewis Carroll",
        "en",
    )
    chapters = _body_chapters(book)
    assert len(chapters) == 10
    assert chapters[0]["title"] == "Down The Rabbit-Hole"
    assert chapters[-1]["title"] == "Alice's Evidence"
    assert [c["index"] for c in book["chapters"]] == list(range(len(book["chapters"])))
    by_title = {c["title"]: c for c in chapters}
    for title, first in ALICE_FIRST_SENTENCES.items():
        detail = _chapter(reader, book["id"], by_title[title]["id"])
        assert detail["title"] == title
        assert detail["paragraphs"][0]["sentences"][0]["text"].startswith(first)
        count = sum(len(p["sentences"]) for p in detail["paragraphs"])
        assert count == by_title[title]["sentence_count"] > 10
    # GET answers exactly what POST answered, ids included (stable ids).
    assert reader.get(f"/api/books/{book['id']}").json() == book


def test_chapters_link_to_neighbours(reader: httpx.Client) -> None:
    book = _import_alice(reader)
    ids = [c["id"] for c in book["chapters"]]
    first, second, last = (_chapter(reader, book["id"], i) for i in (ids[0], ids[1], ids[-1]))
    assert (first["prev_chapter_id"], first["next_chapter_id"]) == (None, ids[1])
    assert (second["prev_chapter_id"], second["next_chapter_id"]) == (ids[0], ids[2])
    assert last["next_chapter_id"] is None
    sentence_ids = [s["id"] for p in first["paragraphs"] for s in p["sentences"]]
    assert len(set(sentence_ids)) == len(sentence_ids) and all(len(i) == 32 for i in sentence_ids)


def test_cover_is_served_with_its_type(reader: httpx.Client) -> None:
    book = _import_alice(reader)
    assert book["cover_url"] == f"/api/books/{book['id']}/cover"
    cover = reader.get(book["cover_url"])
    assert cover.status_code == 200
    assert cover.headers["content-type"] == "image/jpeg"
    assert cover.content[:3] == b"\xff\xd8\xff"
    pasted = reader.post("/api/books", json={"title": "No cover", "text": "Hello there."}).json()
    assert pasted["cover_url"] is None
    assert reader.get(f"/api/books/{pasted['id']}/cover").status_code == 404


def test_epub2_with_ncx_imports_with_titles(reader: httpx.Client) -> None:
    response = upload(reader, "story.epub", build_epub2())
    assert response.status_code == 201, response.text
    book = response.json()
    assert [c["title"] for c in _body_chapters(book)] == [
        "The First Morning",
        "Second Thoughts",
        "The Last Word",
    ]
    assert (book["author"], book["language"]) == ("Ada Tester", "de")
    cover = reader.get(book["cover_url"])
    assert (cover.headers["content-type"], cover.content) == ("image/png", PNG_1X1)
    detail = _chapter(reader, book["id"], _body_chapters(book)[0]["id"])
    texts = [s["text"] for p in detail["paragraphs"] for s in p["sentences"]]
    assert texts[:3] == [
        "It was & is a \u201cfine\u201d day.",
        "The sun rose.",
        "Birds sang \u2014 loudly.",
    ]


def test_text_file_imports_with_chapters(reader: httpx.Client) -> None:
    text = (
        "Title: Two Chapters\nAuthor: T. Writer\n\nCHAPTER I.\nThe Start\n\nIt began. Then more.\n\n"
        "CHAPTER II.\nThe End\n\nIt ended.\n"
    )
    # Named .dat and sent as octet-stream: the type is taken from the content, not the name.
    response = upload(reader, "two.dat", text.encode(), language="en")
    assert response.status_code == 201, response.text
    book = response.json()
    assert (book["title"], book["author"]) == ("Two Chapters", "T. Writer")
    chapters = _body_chapters(book)
    assert [c["title"] for c in chapters] == ["CHAPTER I: The Start", "CHAPTER II: The End"]
    detail = _chapter(reader, book["id"], chapters[0]["id"])
    assert [s["text"] for s in detail["paragraphs"][0]["sentences"]] == ["It began.", "Then more."]


def test_pasted_text_imports_with_chapters(reader: httpx.Client) -> None:
    body = {
        "title": "Pasted",
        "text": "# Eins\n\nGuten Tag. Wie geht's?\n\n# Zwei\n\nGut.",
        "language": "de",
    }
    response = reader.post("/api/books", json=body)
    assert response.status_code == 201, response.text
    book = response.json()
    assert (book["title"], book["language"], book["author"]) == ("Pasted", "de", None)
    assert [c["title"] for c in book["chapters"]] == ["Eins", "Zwei"]
    detail = _chapter(reader, book["id"], book["chapters"][0]["id"])
    assert [s["text"] for s in detail["paragraphs"][0]["sentences"]] == [
        "Guten Tag.",
        "Wie geht's?",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "", "text": "x"},
        {"title": "T", "text": "   "},
        {"title": "T"},
        {"title": "T", "text": "x", "language": "no such language!"},
    ],
)
def test_bad_pasted_text_gets_422(reader: httpx.Client, body: dict) -> None:
    response = reader.post("/api/books", json=body)
    assert response.status_code == 422, response.text
    assert (
        reader.post(
            "/api/books", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def _assert_rejected_and_library_intact(
    client: httpx.Client,
    response: httpx.Response,
    status: int,
    words: str,
    before: list[dict],
    server: AppServer,
) -> None:
    assert response.status_code == status, response.text
    assert words.lower() in response.json()["detail"].lower()
    assert _library(client) == before
    leftovers = list((server.data_dir / "uploads" / "books").glob(".incoming-*"))
    assert leftovers == []


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("broken.epub", b"this is not a zip at all", 422, "not a zip"),
        ("noopf.epub", None, 422, "package document"),
        ("picture.txt", PNG_1X1, 415, "neither an EPUB nor UTF-8"),
        ("empty.txt", b"", 422, "empty"),
    ],
)
def test_malformed_files_are_rejected_cleanly(
    reader: httpx.Client,
    live_server: AppServer,
    name: str,
    data: bytes | None,
    status: int,
    words: str,
) -> None:
    _import_alice(reader)
    before = _library(reader)
    if data is None:  # a zip that says it is an EPUB but has no OPF
        import io
        import zipfile  # noqa: E401

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("mimetype", "application/epub+zip")
            archive.writestr(
                "META-INF/container.xml",
                '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                '<rootfiles><rootfile full-path="OPS/missing.opf" '
                'media-type="application/oebps-package+xml"/></rootfiles></container>',
            )
        data = buffer.getvalue()
    response = upload(reader, name, data)
    _assert_rejected_and_library_intact(reader, response, status, words, before, live_server)


def test_drm_epub_is_rejected_and_library_intact(
    reader: httpx.Client, live_server: AppServer
) -> None:
    _import_alice(reader)
    before = _library(reader)
    drm = build_epub2({"META-INF/rights.xml": "<rights/>"})
    response = upload(reader, "locked.epub", drm)
    _assert_rejected_and_library_intact(
        reader, response, 422, "DRM isn't supported", before, live_server
    )


def test_zip_bomb_is_refused_and_library_intact(
    reader: httpx.Client, live_server: AppServer
) -> None:
    _import_alice(reader)
    before = _library(reader)
    bomb = build_zero_bomb(210 * 1024 * 1024)  # unpacks past the 200 MB default, uploads as ~200 KB
    assert len(bomb) < 1024 * 1024
    response = upload(reader, "bomb.epub", bomb)
    _assert_rejected_and_library_intact(reader, response, 413, "zip bomb", before, live_server)


def _raw_request(
    server: AppServer, cookie: str, head: str, body_chunks: int, chunk: bytes
) -> tuple[bytes, int]:
    """Send a request by hand, stop sending once the server answers; the answer and chunks sent."""
    sent = 0
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.replace("{cookie}", cookie).encode())
        for _ in range(body_chunks):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server has answered: it stopped reading the upload
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
        return _read_response(sock), sent


def _read_response(sock: socket.socket) -> bytes:
    """Read one HTTP response (headers + Content-Length body), tolerating a reset at the end."""
    sock.settimeout(10)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return data
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        if not chunk or (sep and length is not None and len(body) >= length):
            return data


def _session_cookie(client: httpx.Client) -> str:
    return f"ownvoice_session={client.cookies['ownvoice_session']}"


def test_oversized_upload_is_refused_from_its_declared_length(
    reader: httpx.Client, live_server: AppServer
) -> None:
    _import_alice(reader)
    before = _library(reader)
    head = (
        "POST /api/books HTTP/1.1\r\nHost: test\r\nCookie: {cookie}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\n"
        f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
    )
    started = time.monotonic()
    answer, _ = _raw_request(live_server, _session_cookie(reader), head, body_chunks=0, chunk=b"")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than 50 MB" in answer
    assert time.monotonic() - started < 5  # refused at once, 200 MB never sent
    assert _library(reader) == before


def test_oversized_streamed_upload_is_refused_while_streaming(
    reader: httpx.Client, live_server: AppServer
) -> None:
    """No Content-Length (chunked): the server counts while reading and stops past 50 MB."""
    _import_alice(reader)
    before = _library(reader)
    head = (
        "POST /api/books HTTP/1.1\r\nHost: test\r\nCookie: {cookie}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    payload = b"A" * (1024 * 1024)
    first = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
    )
    chunk = f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
    opening = f"{len(first):x}\r\n".encode() + first + b"\r\n"
    answer, sent = _raw_request(
        live_server, _session_cookie(reader), head + opening.decode(), body_chunks=200, chunk=chunk
    )  # 200 MB if it were all read
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 80  # refused just past 50 MB (plus what the socket buffers held), not at the end
    assert _library(reader) == before
    assert list((live_server.data_dir / "uploads" / "books").glob(".incoming-*")) == []


def _rows(server: AppServer, book_id: str) -> int:
    """Rows that belong to a book, read straight from the database."""
    return sum(
        database.rows(server.data_dir, query, book=book_id)[0][0]
        for query in (
            "SELECT count(*) FROM books WHERE id = :book",
            "SELECT count(*) FROM chapters WHERE book_id = :book",
            "SELECT count(*) FROM paragraphs WHERE chapter_id IN "
            "(SELECT id FROM chapters WHERE book_id = :book)",
            "SELECT count(*) FROM sentences WHERE book_id = :book",
            "SELECT count(*) FROM book_covers WHERE book_id = :book",
        )
    )


def test_library_lists_books_with_progress_and_delete_removes_them(
    reader: httpx.Client, live_server: AppServer
) -> None:
    book = _import_alice(reader)
    pasted = reader.post("/api/books", json={"title": "Note", "text": "One. Two."}).json()
    listed = {b["id"]: b for b in _library(reader)}
    assert set(listed) == {book["id"], pasted["id"]}
    assert listed[book["id"]]["chapter_count"] == len(book["chapters"])
    assert listed[book["id"]]["cover_url"] == book["cover_url"]
    assert listed[book["id"]]["progress"] is None
    originals = list((live_server.data_dir / "uploads" / "books").glob(f"{book['id']}.*"))
    assert [p.suffix for p in originals] == [".epub"]
    assert _rows(live_server, book["id"]) > 100
    assert reader.delete(f"/api/books/{book['id']}").status_code == 204
    assert _rows(live_server, book["id"]) == 0  # chapters, paragraphs, sentences, cover: cascaded
    assert _rows(live_server, pasted["id"]) > 0
    orphans = database.rows(
        live_server.data_dir,
        "SELECT count(*) FROM paragraphs WHERE chapter_id NOT IN (SELECT id FROM chapters)",
    )[0][0]
    assert orphans == 0
    assert [b["id"] for b in _library(reader)] == [pasted["id"]]
    assert reader.get(f"/api/books/{book['id']}").status_code == 404
    assert not originals[0].exists()
    assert reader.delete(f"/api/books/{book['id']}").status_code == 404


def test_progress_round_trips_and_is_per_user(
    reader: httpx.Client, other_reader: httpx.Client
) -> None:
    book = _import_alice(reader)
    url = f"/api/books/{book['id']}/progress"
    start = reader.get(url).json()
    first_body = _body_chapters(book)[0]
    assert start["chapter_id"] == first_body["id"] and start["updated_at"] is None
    chapter = _chapter(reader, book["id"], book["chapters"][3]["id"])
    sentence = chapter["paragraphs"][2]["sentences"][0]
    saved = reader.put(url, json={"chapter_id": chapter["id"], "sentence_id": sentence["id"]})
    assert saved.status_code == 200, saved.text
    again = reader.get(url).json()
    assert (again["chapter_id"], again["sentence_id"]) == (chapter["id"], sentence["id"])
    assert again["updated_at"] is not None
    listed = next(b for b in _library(reader) if b["id"] == book["id"])
    assert listed["progress"]["sentence_id"] == sentence["id"]
    assert 0.2 < listed["progress"]["fraction"] < 0.5
    # Another user: sees none of it, cannot read or write it.
    assert other_reader.get(url).status_code == 404
    assert (
        other_reader.put(
            url, json={"chapter_id": chapter["id"], "sentence_id": sentence["id"]}
        ).status_code
        == 404
    )
    assert other_reader.get(f"/api/books/{book['id']}").status_code == 404
    assert other_reader.get(f"/api/books/{book['id']}/chapters/{chapter['id']}").status_code == 404
    assert other_reader.get(f"/api/books/{book['id']}/cover").status_code == 404
    assert other_reader.delete(f"/api/books/{book['id']}").status_code == 404
    assert _library(other_reader) == []
    # The other user's own copy has its own progress.
    theirs = _import_alice(other_reader)
    assert other_reader.get(f"/api/books/{theirs['id']}/progress").json()["updated_at"] is None
    assert reader.get(url).json()["sentence_id"] == sentence["id"]


def test_progress_rejects_ids_from_elsewhere(reader: httpx.Client) -> None:
    book = _import_alice(reader)
    other = reader.post(
        "/api/books", json={"title": "Other", "text": "Elsewhere. Entirely."}
    ).json()
    foreign = _chapter(reader, other["id"], other["chapters"][0]["id"])
    foreign_sentence = foreign["paragraphs"][0]["sentences"][0]["id"]
    chapter = _chapter(reader, book["id"], book["chapters"][1]["id"])
    own_sentence = chapter["paragraphs"][0]["sentences"][0]["id"]
    url = f"/api/books/{book['id']}/progress"
    for body in (
        {"chapter_id": chapter["id"], "sentence_id": foreign_sentence},
        {"chapter_id": foreign["id"], "sentence_id": own_sentence},
        {"chapter_id": book["chapters"][0]["id"], "sentence_id": own_sentence},  # wrong chapter
        {"chapter_id": chapter["id"], "sentence_id": "0" * 32},
    ):
        response = reader.put(url, json=body)
        assert response.status_code == 422, (body, response.text)
    assert reader.get(url).json()["updated_at"] is None  # nothing was saved


def test_books_require_login(live_server: AppServer) -> None:
    with httpx.Client(base_url=live_server.url) as anonymous:
        assert anonymous.get("/api/books").status_code == 401
        assert anonymous.post("/api/books", json={"title": "T", "text": "x"}).status_code == 401


def test_unknown_content_type_gets_415(reader: httpx.Client) -> None:
    response = reader.post("/api/books", content=b"hello", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]
