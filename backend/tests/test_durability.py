"""Nothing saved is lost or served broken (issue 10 item 7): checksummed cache entries, a full
disk, voices and temp files a crash left behind, API-key bookkeeping without a write per call."""

from __future__ import annotations

import errno
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import database
import httpx
import postgres
import pytest
from audio_files import CLEAN_WAV, decode
from conftest import create_user, login
from fastapi.testclient import TestClient
from servers import AppServer, InferenceServer, start_app, start_app_on
from sqlalchemy import event, func, select

from app.core import files
from app.core.db import session_factory
from app.core.security import create_api_key, user_for_api_key
from app.main import prepare_database
from app.models.book import Book
from app.models.user import ApiKey, User
from app.models.voice import VOICE_PROCESSING, Voice
from app.services.audio_cache import AudioCache, cache_key
from app.services.books import store
from app.services.books.parsed import ParsedBook
from app.services.books.text import parse_text
from app.services.renders import RenderFailed, store_audio
from app.services.voices import LOST_RECORDING, voices_dir


def _entry_file(data_dir: Path, content: bytes) -> Path:
    matches = [p for p in (data_dir / "audio_cache").rglob("*.audio") if p.read_bytes() == content]
    assert len(matches) == 1
    return matches[0]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip_a_byte], ids=["truncated", "flipped"])
def test_a_damaged_cache_entry_is_a_miss_and_is_generated_again(
    stack: AppServer, damage: object
) -> None:
    body = {
        "text": f"A sentence to damage on disk {uuid.uuid4().hex[:6]}.",
        "voiceId": "stock-joe",
        "format": "wav",
    }
    with stack.admin() as client:
        first = client.post("/api/tts", json=body)
        assert first.status_code == 200 and first.headers["x-cache"] == "miss"
        entry = _entry_file(stack.data_dir, first.content)
        damage(entry)  # type: ignore[operator]
        again = client.post("/api/tts", json=body)
        assert again.headers["x-cache"] == "miss", "a damaged entry was served as a hit"
        (rate, seconds), (first_rate, first_seconds) = decode(again.content), decode(first.content)
        # Whole again (Piper samples its durations, so the length varies a little).
        assert rate == first_rate and abs(seconds - first_seconds) < 0.3 * first_seconds
        third = client.post("/api/tts", json=body)
    assert third.headers["x-cache"] == "hit" and third.content == again.content


def test_an_entry_without_its_checksum_is_a_miss_and_removed(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "audio_cache")
    key = cache_key(text="old")
    writer = cache.writer(key, "audio/mpeg")
    writer.write(b"x" * 100)
    assert writer.commit() is True
    audio, meta = cache.paths(key)
    meta.write_text('{"media_type": "audio/mpeg", "headers": {}}')  # no length or checksum
    assert cache.get(key) is None
    assert not audio.exists() and not meta.exists()
    assert cache.size_bytes == 0


def test_a_full_disk_while_caching_keeps_the_stream_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC injected at the OS boundary (fsync is where a full disk shows on commit)."""
    cache = AudioCache(tmp_path / "audio_cache")
    kept = cache_key(text="kept")
    writer = cache.writer(kept, "audio/mpeg")
    writer.write(b"k" * 10)
    assert writer.commit() is True

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    lost = cache_key(text="lost")
    writer = cache.writer(lost, "audio/mpeg")
    writer.write(b"x" * 100)
    assert writer.commit() is False
    assert writer.disk_full
    with pytest.raises(RenderFailed, match="disk is full"):  # a render job stops, saying why
        store_audio(cache, cache_key(text="rendered"), "audio/L16", {}, b"x" * 100)
    monkeypatch.undo()
    assert cache.get(lost) is None and cache.get(kept) is not None
    leftovers = {p.name for p in cache.root.rglob("*") if p.is_file()}
    assert leftovers == {f"{kept}.audio", f"{kept}.json"}


def test_disk_full_errors_are_recognised() -> None:
    assert files.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert files.is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert files.is_disk_full(Exception("(sqlite3.OperationalError) database or disk is full"))
    assert not files.is_disk_full(OSError(errno.EACCES, "Permission denied"))


# --- a real full disk: a small tmpfs as the data directory ---------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "data"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here ({result.stderr.strip()}); "
            "the injected-ENOSPC tests cover the logic"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> None:
    with (disk / "filler").open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_is_a_507_for_uploads_while_cached_audio_plays(
    small_disk: Path, inference: InferenceServer
) -> None:
    server = start_app_on(inference, small_disk)
    try:
        create_user(server, "filler").close()
        with login(server, "filler", "password-123") as client:
            cached = {"text": "Cached before the disk filled up.", "voiceId": "stock-joe"}
            first = client.post("/api/tts", json=cached)
            assert first.status_code == 200 and first.headers["x-cache"] == "miss"
            _fill(small_disk)

            upload = client.post(
                "/api/voice/upload",
                data={"name": "Full", "language": "en"},
                files={"audio": ("me.wav", CLEAN_WAV.read_bytes(), "audio/wav")},
            )
            assert upload.status_code == 507, upload.text
            assert "disk is full" in upload.json()["detail"]
            book = client.post(
                "/api/books", files={"file": ("b.txt", b"One. Two. " * 5000, "text/plain")}
            )
            assert book.status_code == 507, book.text

            again = client.post("/api/tts", json=cached)
            assert again.status_code == 200 and again.headers["x-cache"] == "hit"
            assert again.content == first.content
            fresh = client.post("/api/tts", json={**cached, "text": "Never said before."})
            assert fresh.status_code == 200 and decode(fresh.content)[1] > 0.3  # plays, uncached
        temp = [p.name for p in small_disk.rglob(".*") if p.is_file()]
        assert temp == [], temp  # no half-written upload, import or cache entry
    finally:
        server.stop()


# --- what a crash leaves behind, handled at the next start -----------------------------


def _add_interrupted_voice(data_dir: Path, username: str, recording: bytes | None) -> str:
    """A voice as a crash mid-preparation leaves it: `processing`, its recording stored."""
    engine = prepare_database(database.settings(data_dir))
    try:
        with session_factory(engine)() as db:
            user = db.scalar(select(User).where(User.username == username))
            assert user is not None
            voice = Voice(user_id=user.id, name="Cut off", language="en", status=VOICE_PROCESSING)
            db.add(voice)
            db.flush()
            voice.upload_name = f"{user.id}_{voice.id}_reference.wav"
            if recording is not None:
                (voices_dir(data_dir) / voice.upload_name).write_bytes(recording)
            db.commit()
            return voice.id
    finally:
        engine.dispose()


def _wait_until_settled(client: httpx.Client, voice_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        voice = client.get(f"/api/voices/{voice_id}").json()
        if voice["status"] != "processing" or time.monotonic() > deadline:
            return voice
        time.sleep(0.5)


def test_voices_left_processing_by_a_crash_are_resumed_or_failed_at_start(
    tmp_path: Path, inference: InferenceServer
) -> None:
    server = start_app_on(inference, tmp_path / "data")
    try:
        create_user(server, "crashed").close()
        server.stop()
        voices_dir(server.data_dir).mkdir(parents=True, exist_ok=True)
        resumable = _add_interrupted_voice(server.data_dir, "crashed", CLEAN_WAV.read_bytes())
        lost = _add_interrupted_voice(server.data_dir, "crashed", None)
        server.process.start()
        server.process.wait_for(server.url + "/api/health", 60)
        with login(server, "crashed", "password-123") as client:
            assert _wait_until_settled(client, resumable)["status"] == "ready"
            failed = _wait_until_settled(client, lost)
            assert (failed["status"], failed["error"]) == ("failed", LOST_RECORDING)
            spoken = client.post(
                "/api/tts", json={"text": "Back again.", "voiceId": "custom_user_voice"}
            )
            assert spoken.status_code == 200, spoken.text
            refused = client.post("/api/tts", json={"text": "Hello.", "voiceId": lost})
            assert refused.status_code == 409 and "upload it again" in refused.json()["detail"]
    finally:
        server.stop()


def _stage_a_book(data_dir: Path) -> None:
    """What a crash in the middle of storing a book leaves: its rows, but no `books` row."""
    engine = prepare_database(database.settings(data_dir))
    try:
        store.stage_rows(engine, store.book_rows(_parsed_book(50)))
    finally:
        engine.dispose()


def _table_counts(data_dir: Path) -> list[int]:
    return [
        database.rows(data_dir, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("books", "chapters", "paragraphs", "sentences")
    ]


def test_temp_files_left_by_a_crash_are_swept_at_start(tmp_path: Path) -> None:
    server = start_app(tmp_path / "data")
    try:
        server.stop()
        data = server.data_dir
        _stage_a_book(data)
        assert _table_counts(data) == [0, 1, 50, 100]
        orphans = [
            data / "uploads" / "voices" / ".upload-abc123",
            data / "uploads" / "books" / ".incoming-def456.part",
            data / "uploads" / "books" / ".incoming-def456.epub",
            data / "audio_cache" / "ab" / ".partial-xyz",
        ]
        kept = [data / "uploads" / "books" / "0123.epub", data / "uploads" / "voices" / "u_v.wav"]
        for path in orphans + kept:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"half")  # just written: younger than any age-based sweep
        server.process.start()
        server.process.wait_for(server.url + "/api/health", 60)
        assert [p for p in orphans if p.exists()] == []
        assert all(p.exists() for p in kept)
        assert _table_counts(data) == [0, 0, 0, 0]
    finally:
        server.stop()


# --- API keys: no database write per request -----------------------------------------


def test_api_key_use_is_recorded_at_most_once_a_minute(tmp_path: Path) -> None:
    engine = prepare_database(database.settings(tmp_path / "data"))
    updates: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            updates.append(statement)

    start = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    clock = [start]
    try:
        with session_factory(engine)() as db:
            admin = db.scalar(select(User))
            _, key = create_api_key(db, admin, "busy client")
            for seconds in (0, 1, 30, 59):
                clock[0] = start + timedelta(seconds=seconds)
                assert user_for_api_key(db, key, now=lambda: clock[0]) is not None
            assert len(updates) == 1
            clock[0] = start + timedelta(seconds=61)
            user_for_api_key(db, key, now=lambda: clock[0])
            assert len(updates) == 2
            row = db.scalar(select(ApiKey).where(ApiKey.name == "busy client"))
            assert row is not None and row.last_used_at == clock[0]
    finally:
        engine.dispose()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


# --- a long import does not hold SQLite's write lock ---------------------------------


def _parsed_book(paragraphs: int) -> ParsedBook:
    text = "\n\n".join(f"Paragraph {n} begins here. And it ends here." for n in range(paragraphs))
    return parse_text(text, "Staged", "en", fallback_title="Staged")


def test_other_writes_go_through_while_a_book_is_being_stored(tmp_path: Path) -> None:
    """The moment the import starts writing sentences, another write runs to the end (the
    import waits for it): it must neither wait for the whole import nor see half a book."""
    settings = database.settings(tmp_path / "data")
    engine = prepare_database(settings)
    factory = session_factory(engine)
    seen: dict[str, object] = {}

    def other_write() -> None:
        try:
            with factory() as db:
                create_api_key(db, db.scalar(select(User)), "written during the import")
                seen["books"] = db.scalar(select(func.count()).select_from(Book))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            seen["error"] = exc

    @event.listens_for(engine, "before_cursor_execute")
    def _meanwhile(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO sentences") and "started" not in seen:
            seen["started"] = True
            writer = threading.Thread(target=other_write)
            writer.start()
            writer.join(timeout=60)

    parsed = _parsed_book(3 * store.STAGE_ROWS)
    try:
        with factory() as db:
            book = store.save_book(db, db.scalar(select(User)).id, parsed, "paste", None, settings)
        assert "error" not in seen, seen.get("error")
        assert seen["books"] == 0  # written while the book was being stored, and not visible
        assert _table_counts(settings.resolved_data_dir) == [
            1,
            1,
            3 * store.STAGE_ROWS,
            book.sentence_count,
        ]
        if not postgres.ENABLED:  # PostgreSQL enforces foreign keys on every write
            assert database.rows(settings.resolved_data_dir, "PRAGMA foreign_key_check") == []
    finally:
        engine.dispose()


def test_only_a_full_disk_before_the_response_starts_becomes_a_507() -> None:
    """ENOSPC injected where the app writes; any other error, or one mid-stream, passes."""
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    from app.api.disk_full import DiskFullMiddleware

    app = FastAPI()
    app.add_middleware(DiskFullMiddleware)

    @app.post("/api/full")
    def _full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    @app.post("/v1/audio/speech")
    def _full_openai() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    @app.post("/api/denied")
    def _denied() -> None:
        raise OSError(errno.EACCES, "Permission denied")

    @app.post("/api/midstream")
    def _midstream() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"audio"
            raise OSError(errno.ENOSPC, "No space left on device")

        return StreamingResponse(chunks())

    client = TestClient(app, raise_server_exceptions=True)
    full = client.post("/api/full")
    assert full.status_code == 507 and "disk is full" in full.json()["detail"]
    openai = client.post("/v1/audio/speech")
    assert openai.status_code == 507 and "disk is full" in openai.json()["error"]["message"]
    with pytest.raises(PermissionError):
        client.post("/api/denied")
    with pytest.raises(OSError, match="No space"):
        client.post("/api/midstream")
