"""Faults, end to end: `kill -9` of either service at a bad moment, on real processes.

- The inference service dies in the middle of a stream: the listener's stream breaks off at once
  (an incomplete body, not a hang), /api/health says the service is down, and once the service
  is back speech works again.
- A render job queued while the service is down waits for it; the app server is killed too and
  comes back before the inference service: the job is resumed, waits again (rather than failing
  at once), and finishes once the service is back.
- The app server dies while a voice recording and a book are being uploaded: after a restart
  neither appears, every voice and book row has its file, and SQLite passes its integrity check.
- The app server dies while a large book is being stored (its rows half staged): after a restart
  the book is not there, its staged rows and temp file are gone, and the same file imports whole.

Its own inference service (tiny checkpoint), since these tests kill it. The time each recovery
took is printed (README.md, "Faults and soak").
"""

from __future__ import annotations

import io
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import database
import httpx
import postgres
import pytest
from audio_files import CLEAN_WAV
from books_fixtures import build_epub2
from conftest import create_user, login
from servers import SHARED_DATA, AppServer, InferenceServer, start_app_on, start_inference
from sqlalchemy import Connection, create_engine
from test_chapter_text_order import reader_words

from app.services.uploads import UPLOAD_PREFIX

STREAM_ERROR_WITHIN_S = 5.0
RENDER_BATCH_SIZE = 2
# Long enough that Piper is still speaking when the service is killed (about 30 s of audio).
LONG_TEXT = " ".join(
    f"Paragraph {n} of the long story goes on, as long stories always do, for quite a while."
    for n in range(12)
)
BOOK = " ".join(f"Sentence number {n} of a book that is rendered ahead." for n in range(10))


@pytest.fixture(scope="module")
def ai(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    server = start_inference(tmp_path_factory.mktemp("faults-ai") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ai: InferenceServer) -> Iterator[AppServer]:
    app = start_app_on(
        ai,
        tmp_path_factory.mktemp("faults-app") / "data",
        OWNVOICE_RENDER_BATCH_SIZE=str(RENDER_BATCH_SIZE),
        # far longer than any deadline here: the restarted server takes its own killed job back
        # at once (its replica name is its host and port), not when the lease would run out
        OWNVOICE_JOB_LEASE_SECONDS="3600",
    )
    yield app
    app.stop()


@pytest.fixture
def reader(server: AppServer) -> Iterator[httpx.Client]:
    client = create_user(server, f"reader-{uuid.uuid4().hex[:6]}")
    yield client
    client.close()


def wait_until(
    condition: Callable[[], object], what: str, timeout: float = 120, every: float = 0.1
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} within {timeout} s")


def ensure_up(ai: InferenceServer, server: AppServer) -> None:
    """A test that killed a service leaves it killed; the next one starts it again."""
    if ai.process.proc is None or ai.process.proc.poll() is not None:
        ai.start_again()
    if server.process.proc is None or server.process.proc.poll() is not None:
        server.start_again()


def fresh_user(ai: InferenceServer, server: AppServer, prefix: str) -> tuple[str, httpx.Client]:
    """Both services up, and a new user logged in: its name, and its client."""
    ensure_up(ai, server)
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    return name, create_user(server, name)


def inference_health(server: AppServer) -> dict:
    with login(server) as admin:
        return admin.get("/api/health").json()["inference"]


def tts(client: httpx.Client, text: str) -> httpx.Response:
    return client.post("/api/tts", json={"text": text, "voiceId": "stock-joe", "format": "wav"})


# --- the inference service dies mid-stream, then the app server dies too --------------------


def job_of(client: httpx.Client, job_id: str) -> dict:
    return client.get(f"/api/renders/{job_id}").json()


def waits_logged(server: AppServer) -> int:
    return server.process.log().count('"msg": "render job waits for the inference service"')


def test_kill_9_of_the_inference_service_mid_stream_then_of_the_app_server(
    ai: InferenceServer, server: AppServer, reader: httpx.Client
) -> None:
    ensure_up(ai, server)
    # A listener is mid-stream when the inference service is killed: the stream breaks off.
    body = {"text": LONG_TEXT, "voiceId": "stock-joe", "format": "pcm_24000"}
    with reader.stream("POST", "/api/tts", json=body, timeout=httpx.Timeout(30)) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        assert next(chunks)  # the first audio arrived: the stream is under way
        killed = time.monotonic()
        ai.process.kill()
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete|without sending complete"):
            for _ in chunks:
                pass
        broke_after = time.monotonic() - killed
    assert broke_after < STREAM_ERROR_WITHIN_S

    # The app stays up and says the service is down.
    down = inference_health(server)
    assert (down["ready"], down["reachable"]) == (False, False)
    assert "not reachable" in down["reason"]
    refused = tts(reader, "Nobody can say this while the service is down.")
    assert refused.status_code == 503 and "not reachable" in refused.json()["detail"]

    # A render job queued meanwhile waits for the service instead of failing.
    book = reader.post("/api/books", json={"title": "Ahead", "text": BOOK, "language": "en"})
    assert book.status_code == 201, book.text
    before = waits_logged(server)
    created = reader.post(f"/api/books/{book.json()['id']}/renders", json={"voiceId": "stock-joe"})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    wait_until(lambda: waits_logged(server) > before, "the job did not wait for the service", 30)
    assert (job_of(reader, job_id)["status"], job_of(reader, job_id)["error"]) == ("running", None)

    # kill -9 of the app server while the job runs; it comes back before the inference service
    # (as after a reboot): the job is resumed and waits again.
    server.process.kill()
    assert database.integrity(server.data_dir) == "ok"
    before = waits_logged(server)
    server.start_again()
    wait_until(lambda: waits_logged(server) > before, "the resumed job did not wait", 30)
    waiting = job_of(reader, job_id)
    assert (waiting["status"], waiting["error"]) == ("running", None), waiting

    # The inference service is back: the job finishes and speech plays again.
    started = time.monotonic()
    ai.start_again()
    wait_until(lambda: inference_health(server)["ready"], "the app did not see the service back")
    spoken = tts(reader, "And now it speaks again.")
    assert spoken.status_code == 200 and spoken.content[:4] == b"RIFF"
    assert len(spoken.content) > 10_000
    speaking_after = time.monotonic() - started
    done = wait_until(
        lambda: (job := job_of(reader, job_id))["status"] != "running" and job,
        "the job did not finish",
        timeout=240,
    )
    assert (done["status"], done["done"], done["total"]) == ("done", 10, 10), done  # type: ignore[index]
    print(
        f"\nfault: inference killed mid-stream: the stream broke off after {broke_after:.2f} s; "
        f"after its restart speech played again in {speaking_after:.1f} s and the resumed render "
        f"job finished in {time.monotonic() - started:.1f} s"
    )


# --- the app server dies during uploads --------------------------------------------------------


def multipart(
    fields: dict[str, str], file_field: str, filename: str, data: bytes, on_half: Callable[[], None]
) -> tuple[dict[str, str], Iterator[bytes]]:
    """A multipart body sent in two halves; `on_half` runs once the first half is out."""
    boundary = uuid.uuid4().hex
    head = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, value in fields.items()
        )
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    half = len(data) // 2

    def body() -> Iterator[bytes]:
        yield head + data[:half]
        on_half()
        yield data[half:] + tail

    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body()


def upload_and_kill(
    client: httpx.Client,
    server: AppServer,
    url: str,
    fields: dict[str, str],
    file_field: str,
    filename: str,
    data: bytes,
) -> None:
    headers, body = multipart(fields, file_field, filename, data, server.process.kill)
    with pytest.raises(httpx.TransportError):
        client.post(url, content=body, headers=headers)


def rows_without_files(data_dir: Path) -> list[str]:
    voices = database.rows(
        data_dir, "SELECT id, upload_name FROM voices WHERE upload_name IS NOT NULL"
    )
    missing = [
        f"voice {vid}"
        for vid, name in voices
        if not (data_dir / "uploads" / "voices" / name).is_file()
    ]
    books = database.rows(
        data_dir, "SELECT id, original_file FROM books WHERE original_file IS NOT NULL"
    )
    missing += [
        f"book {bid}"
        for bid, name in books
        if not (data_dir / "uploads" / "books" / name).is_file()
    ]
    return missing


def test_kill_9_during_uploads_leaves_no_half_written_voice_or_book(
    ai: InferenceServer, server: AppServer
) -> None:
    name, client = fresh_user(ai, server, "uploader")
    upload_and_kill(
        client,
        server,
        "/api/voice/upload",
        {"name": "Half", "language": "en", "consent": "attested"},
        "audio",
        "me.wav",
        CLEAN_WAV.read_bytes(),
    )
    server.start_again()
    client = _login_again(server, name)
    book = (SHARED_DATA / "books" / "alice.epub").read_bytes()
    upload_and_kill(
        client, server, "/api/books", {"title": "Half a book"}, "file", "alice.epub", book
    )
    assert database.integrity(server.data_dir) == "ok"
    server.start_again()

    client = _login_again(server, name)
    assert client.get("/api/voices").json()["voices"] == []
    assert client.get("/api/books").json() == []
    assert rows_without_files(server.data_dir) == []
    assert database.integrity(server.data_dir) == "ok"
    # And the same uploads, sent whole, work.
    voice = client.post(
        "/api/voice/upload",
        data={"name": "Whole", "language": "en", "consent": "attested"},
        files={"audio": ("me.wav", CLEAN_WAV.read_bytes(), "audio/wav")},
    )
    assert voice.status_code == 201, voice.text
    whole = client.post("/api/books", files={"file": ("alice.epub", book, "application/epub+zip")})
    assert whole.status_code == 201, whole.text
    assert rows_without_files(server.data_dir) == []


def _login_again(server: AppServer, username: str) -> httpx.Client:
    return login(server, username, "password-123")


def test_kill_9_during_a_voice_upload_leaves_no_partial_file_after_restart(
    ai: InferenceServer, server: AppServer
) -> None:
    _, client = fresh_user(ai, server, "partial")
    temp_dir = server.data_dir / "uploads" / "voices"

    def kill_once_the_temp_file_exists() -> None:
        wait_until(lambda: list(temp_dir.glob(".upload-*")), "no temp file while uploading", 30)
        server.process.kill()

    headers, body = multipart(
        {"name": "Half", "consent": "attested"},
        "audio",
        "me.wav",
        CLEAN_WAV.read_bytes(),
        kill_once_the_temp_file_exists,
    )
    with pytest.raises(httpx.TransportError):
        client.post("/api/voice/upload", content=body, headers=headers)
    server.start_again()
    assert list(temp_dir.glob(".upload-*")) == []


# --- the app server dies while a book is being stored -----------------------------------------

BIG_BOOK_CHAPTERS = 20


def big_book() -> bytes:
    """A legal EPUB that takes a while to store: 20 chapters of 100 paragraphs of 8 sentences
    (16,000 sentences, staged in many short transactions)."""
    sentence = "The {} river ran past the mill {} times, and the miller counted each one."
    chapters = [
        (
            f"chap{c}.html",
            f"Chapter {c}",
            f"<h1>Chapter {c}</h1>"
            + "".join(
                "<p>" + " ".join(sentence.format(c, p * 8 + s) for s in range(8)) + "</p>"
                for p in range(100)
            ),
        )
        for c in range(BIG_BOOK_CHAPTERS)
    ]
    return build_epub2(chapters=chapters)


STAGED_ONLY = "SELECT count(*) FROM chapters WHERE book_id NOT IN (SELECT id FROM books)"


def staged_only(data_dir: Path) -> int:
    """Chapters an import staged whose book is not committed (store.stage_rows)."""
    return database.rows(data_dir, STAGED_ONLY)[0][0]


def hold_write_lock_while_staged(data_dir: Path) -> Connection:
    """Lock the database while an import is half done, so that it cannot publish the book.

    SQLite: take its write lock (BEGIN IMMEDIATE) at a moment when the import's rows are staged
    and its book row is not committed (store.stage_rows). PostgreSQL imports in one transaction:
    lock the books table against inserts and wait until the import is blocked on it, its rows
    written but not committed."""
    engine = create_engine(database.url_for(data_dir), isolation_level="AUTOCOMMIT")
    connection = engine.connect()
    if postgres.ENABLED:
        connection.exec_driver_sql("BEGIN")
        connection.exec_driver_sql("LOCK TABLE books IN EXCLUSIVE MODE")
        waiting = (
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid "
            "WHERE c.relname = 'books' AND NOT l.granted"
        )
        wait_until(
            lambda: bool(connection.exec_driver_sql(waiting).scalar()),
            "the import never reached its book row",
            timeout=300,
            every=0.01,
        )
        return connection

    def locked_while_staged() -> bool:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        if connection.exec_driver_sql(STAGED_ONLY).scalar():
            return True
        connection.exec_driver_sql("ROLLBACK")
        return False

    wait_until(locked_while_staged, "the import staged no rows", timeout=300, every=0.005)
    return connection


def served_words(client: httpx.Client, book: dict) -> list[list[str]]:
    return [
        " ".join(
            s["text"]
            for p in client.get(f"/api/books/{book['id']}/chapters/{c['id']}").json()["paragraphs"]
            for s in p["sentences"]
        ).split()
        for c in book["chapters"]
    ]


def source_words(epub: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(epub)) as archive:
        return [reader_words(archive.read(f"OEBPS/chap{c}.html")) for c in range(BIG_BOOK_CHAPTERS)]


def test_kill_9_during_a_book_import_leaves_no_half_written_book(
    ai: InferenceServer, server: AppServer
) -> None:
    name, client = fresh_user(ai, server, "importer")
    epub = big_book()
    books = server.data_dir / "uploads" / "books"
    files = {"file": ("big.epub", epub, "application/epub+zip")}
    failures: list[BaseException] = []

    def post() -> None:
        try:
            client.post("/api/books", files=files)
        except httpx.TransportError as exc:
            failures.append(exc)

    importing = threading.Thread(target=post)
    importing.start()
    lock = hold_write_lock_while_staged(server.data_dir)
    try:
        server.process.kill()
    finally:
        lock.exec_driver_sql("ROLLBACK")
        lock.close()
        lock.engine.dispose()
    importing.join(timeout=60)
    assert len(failures) == 1  # the connection broke: no answer, no book
    assert list(books.glob(f"{UPLOAD_PREFIX}*")), "the crash left the import's temp file"

    started = time.monotonic()
    server.start_again()
    client = _login_again(server, name)
    assert client.get("/api/books").json() == []
    assert staged_only(server.data_dir) == 0
    assert list(books.glob(f"{UPLOAD_PREFIX}*")) == []
    assert database.integrity(server.data_dir) == "ok"
    recovered_after = time.monotonic() - started

    whole = client.post("/api/books", files=files)
    assert whole.status_code == 201, whole.text
    book = whole.json()
    assert len(book["chapters"]) == BIG_BOOK_CHAPTERS
    assert served_words(client, book) == source_words(epub)
    assert rows_without_files(server.data_dir) == []
    print(f"\nfault: app killed mid-import: back, the half import gone, in {recovered_after:.1f} s")
