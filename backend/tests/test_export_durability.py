"""Exports that survive and exports that do not fit (docs/API.md, "Exports"), on real app
server processes and the real inference service (stock Piper voice):

- an export whose app server is killed with SIGKILL halfway through rendering resumes at the
  next start, renders only what the cache lacks, and its M4B decodes to the same PCM as an
  export of the same book that nobody interrupted;
- an export the disk cannot hold (OWNVOICE_EXPORT_RESERVE_BYTES) is refused with 507 before
  anything is rendered, and a queued export that no longer fits fails at start;
- an export past the user's quota (OWNVOICE_EXPORT_QUOTA_BYTES) is refused with 507 until old
  exports are deleted.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import add_user, create_user
from servers import AppServer, closed_port_url, start_app
from sqlalchemy import Engine
from test_exports import PAUSES, VOICE, decode_s16, expected_timeline, export, wait_for

from app.core.db import session_factory
from app.services.exports.assemble import Pauses
from app.services.exports.room import TextStats, estimate

PAUSE_ENV = {
    "OWNVOICE_EXPORT_SENTENCE_PAUSE_S": str(PAUSES["sentence"]),
    "OWNVOICE_EXPORT_PARAGRAPH_PAUSE_S": str(PAUSES["paragraph"]),
    "OWNVOICE_EXPORT_CHAPTER_PAUSE_S": str(PAUSES["chapter"]),
}
# Twelve sentences in three paragraphs, rendered one per batch: the export is caught halfway.
STORY = "\n\n".join(
    " ".join(
        f"In part {p}, the {n}th lantern of the harbour was lit by a patient keeper."
        for n in range(1, 5)
    )
    for p in range(1, 4)
)
SHORT = "The fox ran across the field. It was cold.\n\nNobody saw it go."


def book_of(client: httpx.Client, text: str) -> dict:
    made = client.post("/api/books", json={"title": "Lanterns", "text": text, "language": "en"})
    assert made.status_code == 201, made.text
    return made.json()


def sentences_of(client: httpx.Client, book: dict) -> list[list[str]]:
    """The book's sentences, per paragraph, in reading order."""
    paragraphs = []
    for chapter in book["chapters"]:
        detail = client.get(f"/api/books/{book['id']}/chapters/{chapter['id']}").json()
        paragraphs += [[s["text"] for s in p["sentences"]] for p in detail["paragraphs"]]
    return paragraphs


def estimated(client: httpx.Client, book: dict, fmt: str) -> int:
    """The size the app server estimates for an export of the whole book (room.py)."""
    paragraphs = sentences_of(client, book)
    texts = [t for p in paragraphs for t in p]
    stats = TextStats(
        len(texts), sum(len(t) for t in texts), len(paragraphs), len(book["chapters"])
    )
    return estimate(fmt, stats, 1.0, Pauses(**PAUSES)).output


def cache_entries(client: httpx.Client) -> int:
    return client.get("/api/cache").json()["entries"]


def poll(condition: Callable[[], object], what: str, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"{what} within {timeout} s")


def pcm_sha256(client: httpx.Client, job: dict) -> tuple[str, int]:
    download = client.get(f"/api/exports/{job['id']}/download")
    assert download.status_code == 200 and len(download.content) == job["bytes"]
    pcm = decode_s16(download.content)
    return hashlib.sha256(pcm).hexdigest(), len(pcm) // 2


def test_an_export_killed_halfway_resumes_and_sounds_as_an_uninterrupted_one(
    app_on_inference: Callable[..., AppServer],
) -> None:
    # an hour's lease: the restarted server takes its own job back at once, not when it ran out
    server = app_on_inference(
        "export-kill",
        OWNVOICE_RENDER_BATCH_SIZE="1",
        OWNVOICE_JOB_LEASE_SECONDS="3600",
        **PAUSE_ENV,
    )
    client = create_user(server, f"kill-{uuid.uuid4().hex[:6]}")
    book = book_of(client, STORY)
    created = export(client, book, format="m4b", voiceId=VOICE)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]

    def halfway() -> dict | None:
        job = client.get(f"/api/exports/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        return job if 1 <= job["done"] <= job["total"] - 4 else None

    before = poll(halfway, "the export did not get halfway")
    server.process.kill()  # SIGKILL: no shutdown code runs
    server.start_again()  # the session cookie still works: sessions live in the database
    resumed = wait_for(client, job_id)
    assert resumed["status"] == "done", resumed
    total = resumed["total"]
    # At the restart the sentences rendered before the kill were in the cache and were not
    # rendered again; the rest were.
    assert before["done"] <= resumed["cached"] < total, (before, resumed)
    assert resumed["done"] == total

    again = export(client, book, format="m4b", voiceId=VOICE)
    assert again.status_code == 202, again.text
    uninterrupted = wait_for(client, again.json()["id"])
    assert uninterrupted["status"] == "done" and uninterrupted["cached"] == total
    digest, samples = pcm_sha256(client, resumed)
    assert (digest, samples) == pcm_sha256(client, uninterrupted)
    # Every sentence once, with its pauses: the chapter's whole length (plus AAC padding).
    length = expected_timeline(client, book, book["chapters"][0])[1]
    assert 0 <= samples - length < 1024
    # The estimate made before rendering bounds the file, and is not far above it.
    assert resumed["bytes"] <= estimated(client, book, "m4b") < 3 * resumed["bytes"]


# --- room on the disk -------------------------------------------------------------------------

EXABYTE = str(10**18)  # more than any disk has free


def test_an_export_the_disk_cannot_hold_is_refused_before_rendering(
    app_on_inference: Callable[..., AppServer],
) -> None:
    server = app_on_inference("export-full", OWNVOICE_EXPORT_RESERVE_BYTES=EXABYTE)
    with create_user(server, f"full-{uuid.uuid4().hex[:6]}") as client:
        book = book_of(client, SHORT)
        assert cache_entries(client) == 0
        refused = export(client, book, format="m4b", voiceId=VOICE)
        assert refused.status_code == 507, refused.text
        answer = refused.json()
        assert answer["code"] == "insufficient_storage"
        assert "Not enough disk space for this export" in answer["detail"]
        assert "OWNVOICE_EXPORT_RESERVE_BYTES" in answer["detail"]
        assert client.get(f"/api/books/{book['id']}/exports").json() == []
        assert cache_entries(client) == 0  # not one sentence rendered


def test_a_queued_export_that_no_longer_fits_fails_at_start(tmp_path: Path) -> None:
    """Queued while the disk had room (the inference service down, so it waits); the app
    server comes back with less room: the job fails with the disk's message at once."""
    server = start_app(tmp_path / "data", inference_url=closed_port_url())
    try:
        with create_user(server, "waiting") as client:
            book = book_of(client, SHORT)
            job = export(client, book, format="mp3", voiceId=VOICE)
            assert job.status_code == 202, job.text
            job_id = job.json()["id"]
            assert wait_for(client, job_id, ("running",))["status"] == "running"
            server.process.env["OWNVOICE_EXPORT_RESERVE_BYTES"] = EXABYTE
            server.restart()
            failed = wait_for(client, job_id)
            assert failed["status"] == "failed", failed
            assert failed["error"].startswith("Not enough disk space for this export")
            assert "export again" in failed["error"]
            assert cache_entries(client) == 0
    finally:
        server.stop()


# --- the per-user quota -----------------------------------------------------------------------


def test_exports_past_the_users_quota_are_refused_until_old_ones_are_deleted(
    app_on_inference: Callable[..., AppServer],
) -> None:
    server = app_on_inference("export-quota", **PAUSE_ENV)
    with create_user(server, f"quota-{uuid.uuid4().hex[:6]}") as client:
        book = book_of(client, SHORT)
        first = wait_for(client, export(client, book, format="srt", voiceId=VOICE).json()["id"])
        one = estimated(client, book, "srt")  # what each new subtitle export is counted as
        assert first["status"] == "done" and 0 < first["bytes"] <= one, (first, one)
        # A quota one byte short of this export and one more like it.
        server.process.env["OWNVOICE_EXPORT_QUOTA_BYTES"] = str(first["bytes"] + one - 1)
        exports = server.data_dir / "exports"
        stray = exports / uuid.uuid4().hex  # an export forgotten while the server was down
        stray.mkdir()
        (stray / "Lanterns.m4b").write_bytes(b"old")
        server.restart()
        assert not stray.exists() and (exports / first["id"]).is_dir()

        refused = export(client, book, format="srt", voiceId=VOICE)
        assert refused.status_code == 507, refused.text
        assert refused.json()["code"] == "export_quota_exceeded"
        assert "OWNVOICE_EXPORT_QUOTA_BYTES" in refused.json()["detail"]
        assert "Delete old exports" in refused.json()["detail"]
        listed = client.get(f"/api/books/{book['id']}/exports").json()
        assert [(j["id"], j["bytes"]) for j in listed] == [(first["id"], first["bytes"])]

        assert client.delete(f"/api/exports/{first['id']}").status_code == 204
        second = export(client, book, format="srt", voiceId=VOICE)
        assert second.status_code == 202, second.text
        # Queued, running or done, the second one counts against the quota too.
        third = export(client, book, format="srt", voiceId=VOICE)
        assert third.status_code == 507 and third.json()["code"] == "export_quota_exceeded"
        assert wait_for(client, second.json()["id"])["status"] == "done"
        # Deleting the book deletes its exports' files with their rows.
        assert (exports / second.json()["id"]).is_dir()
        assert client.delete(f"/api/books/{book['id']}").status_code == 204
        assert not (exports / second.json()["id"]).exists()


def test_a_runner_that_lost_its_export_leaves_the_new_runners_files(
    tmp_path: Path, migrated: Engine
) -> None:
    """A try that ends without a file removes what it wrote; but when it ended because it lost
    its lease while stalled, the files are the runner's that has the job now, and stay."""
    from app.models.book import Book
    from app.models.export_job import ExportJob
    from app.services.exports.jobs import export_dir, remove_own_export_files

    root = tmp_path / "exports"
    factory = session_factory(migrated)
    with factory() as db:
        user_id = add_user(migrated, "exporter")
        book = Book(user_id=user_id, title="B", language="en", source_format="paste")
        db.add(book)
        db.flush()
        job = ExportJob(user_id=book.user_id, book_id=book.id, voice_id=VOICE, format="m4b")
        job.status, job.lease_owner = "running", "host:b/2/bb"  # taken over by runner b
        db.add(job)
        db.commit()
        job_id = job.id
    written = export_dir(root, job_id) / "B.m4b"
    written.parent.mkdir(parents=True)
    written.write_bytes(b"runner b's file, being written")

    assert not remove_own_export_files(factory, root, job_id, "host:a/1/aa")  # a lost it
    assert written.exists()
    assert remove_own_export_files(factory, root, job_id, "host:b/2/bb")  # b's own try failed
    assert not written.parent.exists()
    written.parent.mkdir()
    with factory() as db:
        db.delete(db.get(ExportJob, job_id))  # deleted by its user: nobody's files
        db.commit()
    assert remove_own_export_files(factory, root, job_id, "host:a/1/aa")
    assert not written.parent.exists()
