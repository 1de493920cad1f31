"""Render jobs (docs/API.md, "Rendering ahead"): the real app server renders chapters and
books through the real inference service (tiny XTTS checkpoint, Piper) into its audio cache,
and POST /api/tts then answers those sentences from the cache."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import database
import httpx
import pytest
from audio_files import SHORT_WAV
from conftest import create_user, create_user_with_voice
from servers import AppServer, closed_port_url, start_app

from app.core.db import make_engine, session_factory
from app.main import run_migrations
from app.models.book import Book
from app.models.render_job import RenderJob
from app.models.user import User, utcnow
from app.services.renders import (
    claim_next,
    release_leases,
    renew_lease,
    update_running,
)

FINISHED = ("done", "failed", "cancelled")
BATCH_SIZE = 2  # small, so that a short chapter still takes several batches

# Two chapters; "It was late." twice: one cache entry that stands for two sentences.
STORY = (
    "# The first night\n\n"
    "It was late. The fox ran across the frozen field.\n\n"
    "It was late. Nobody in the village saw it go.\n\n"
    "# The second night\n\n"
    "Morning came slowly. The snow kept falling.\n"
)
LONG_STORY = " ".join(
    f"Sentence number {n} goes on for a little while, as sentences in books do." for n in range(40)
)


@pytest.fixture(scope="module")
def render_server(app_on_inference: Callable[..., AppServer]) -> AppServer:
    """An app server of its own (its own database and cache) on the shared inference service.

    ELEVENLABS_API_KEY is set (to a service that is never called) so that ElevenLabs voice
    ids are recognised as such."""
    return app_on_inference(
        "renders",
        OWNVOICE_RENDER_BATCH_SIZE=str(BATCH_SIZE),
        ELEVENLABS_API_KEY="never-used",
        ELEVENLABS_BASE_URL=closed_port_url(),
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def listener(render_server: AppServer) -> Iterator[httpx.Client]:
    """A user with a voice of their own (their default: custom_user_voice)."""
    client = create_user_with_voice(render_server, unique("listener"))
    yield client
    client.close()


def import_book(client: httpx.Client, text: str = STORY, title: str = "Night") -> dict:
    response = client.post("/api/books", json={"title": title, "text": text, "language": "en"})
    assert response.status_code == 201, response.text
    return response.json()


def sentences(client: httpx.Client, book: dict, chapter: dict) -> list[str]:
    detail = client.get(f"/api/books/{book['id']}/chapters/{chapter['id']}").json()
    return [s["text"] for p in detail["paragraphs"] for s in p["sentences"]]


def render(client: httpx.Client, book: dict, **body: object) -> httpx.Response:
    return client.post(f"/api/books/{book['id']}/renders", json=body)


def wait_for(
    client: httpx.Client, job_id: str, until: tuple[str, ...] = FINISHED, timeout: float = 480
) -> dict:
    """Poll a job until its status is in `until`; the deadline only bounds a failing test (a
    40-sentence book took over 240 s on a 2-core machine with a load average of 20)."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/renders/{job_id}").json()
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def tts(client: httpx.Client, text: str, voice: str, speed: float) -> httpx.Response:
    """What the reader's player sends for a sentence (language: the book's, raw 24 kHz PCM)."""
    return client.post(
        "/api/tts",
        json={
            "text": text,
            "voiceId": voice,
            "speed": speed,
            "language": "en",
            "format": "pcm_24000",
        },
    )


# --- rendering --------------------------------------------------------------------------


@pytest.mark.parametrize(("voice", "speed"), [("custom_user_voice", 1.0), ("stock-joe", 1.25)])
def test_a_rendered_chapter_plays_from_the_cache(
    listener: httpx.Client, render_server: AppServer, voice: str, speed: float
) -> None:
    book = import_book(listener)
    first, second = book["chapters"]
    texts = sentences(listener, book, first)
    assert texts.count("It was late.") == 2 and len(texts) == first["sentence_count"] == 4

    created = render(listener, book, voiceId=voice, speed=speed, chapterId=first["id"])
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["status"] == "queued" and job["total"] == 4  # as created, before the runner
    assert job["chapter_id"] == first["id"] and job["speed"] == speed
    if voice == "custom_user_voice":  # the real id is stored, not the alias
        default = listener.get("/api/voices").json()["default_voice_id"]
        assert job["voice_id"] == default
    else:
        assert job["voice_id"] == voice

    job = wait_for(listener, job["id"])
    assert job["status"] == "done", job
    assert (job["total"], job["done"], job["cached"], job["error"]) == (4, 4, 0, None)
    assert datetime.fromisoformat(job["finished_at"]) >= datetime.fromisoformat(job["started_at"])

    for text in texts:
        played = tts(listener, text, voice, speed)
        assert played.status_code == 200, played.text
        assert played.headers["x-cache"] == "hit", text
        assert played.headers["content-type"] == "audio/L16;rate=24000"
        assert played.headers["x-sample-rate"] == "24000"
        assert len(played.content) % 2 == 0 and len(played.content) / 2 / 24000 > 0.2
    # Only the chapter was rendered; and another speed is another sound.
    assert (
        tts(listener, sentences(listener, book, second)[0], voice, speed).headers["x-cache"]
        == "miss"
    )
    assert tts(listener, texts[1], voice, speed + 0.25).headers["x-cache"] == "miss"

    # All of it from the cache: the job found every sentence cached before sending anything.
    # (Not the inference worker's counts: the misses above are heard after they played, in the
    # background, on the inference service that every module's app server shares.)
    again = render(listener, book, voiceId=voice, speed=speed, chapterId=first["id"])
    assert again.status_code == 202 and again.json()["id"] != job["id"]
    repeat = wait_for(listener, again.json()["id"])
    assert (repeat["status"], repeat["cached"], repeat["done"]) == ("done", 4, 4)

    listing = listener.get(f"/api/books/{book['id']}/renders").json()
    assert [j["id"] for j in listing] == [repeat["id"], job["id"]]  # newest first


def test_a_whole_book_render_counts_what_was_cached_before(listener: httpx.Client) -> None:
    book = import_book(listener)
    first, second = book["chapters"]
    chapter = wait_for(
        listener,
        render(listener, book, voiceId="stock-joe", chapterId=second["id"]).json()["id"],
    )
    assert (chapter["status"], chapter["total"]) == ("done", second["sentence_count"])

    whole = render(listener, book, voiceId="stock-joe")
    assert whole.status_code == 202 and whole.json()["chapter_id"] is None
    job = wait_for(listener, whole.json()["id"])
    total = first["sentence_count"] + second["sentence_count"]
    assert (job["status"], job["total"], job["done"]) == ("done", total, total), job
    assert job["cached"] == second["sentence_count"]


# --- identical jobs and cancelling ----------------------------------------------------------


def ended(worker: dict) -> int:
    """Jobs the inference service's worker finished or cancelled."""
    return worker["completed"] + worker["cancelled"]


def inference_worker(server: AppServer) -> dict:
    token = server.env["OWNVOICE_INFERENCE_TOKEN"]
    return httpx.get(
        f"{server.env['OWNVOICE_INFERENCE_URL']}/ready",
        headers={"Authorization": f"Bearer {token}"},
    ).json()["worker"]


def test_an_identical_active_job_is_the_same_job_and_cancel_stops_it(
    listener: httpx.Client, render_server: AppServer
) -> None:
    book = import_book(listener, LONG_STORY, "Long")
    created = render(listener, book, voiceId="custom_user_voice")
    assert created.status_code == 202
    job_id = created.json()["id"]
    twin = render(listener, book, voiceId="custom_user_voice", speed=1.0)
    assert twin.status_code == 200 and twin.json()["id"] == job_id
    other_speed = render(listener, book, voiceId="custom_user_voice", speed=1.5)
    assert other_speed.status_code == 202 and other_speed.json()["id"] != job_id
    queued = listener.delete(f"/api/renders/{other_speed.json()['id']}").json()
    assert queued["status"] == "cancelled" and queued["started_at"] is None

    running = wait_for(listener, job_id, until=("running", *FINISHED))
    assert running["status"] == "running", running
    before = inference_worker(render_server)
    cancelled = listener.delete(f"/api/renders/{job_id}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["finished_at"]

    # The runner closes its upstream stream (the inference service cancels the batch in flight)
    # and sends no further batch. (How many jobs ended meanwhile is no measure: the app server's
    # hearing of earlier tests' live sentences runs jobs of its own, one at a time.)
    assert before["in_flight"] <= 2, before  # the job's one batch, and perhaps one hearing
    deadline = time.monotonic() + 20
    while (worker := inference_worker(render_server))["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.2)
    batches_ended = ended(worker)
    assert worker["in_flight"] == 0, worker
    done = listener.get(f"/api/renders/{job_id}").json()["done"]
    # The runner works one job at a time: once a later one-sentence job is done, the cancelled
    # one is behind it for good. A live job would have sent its remaining batches first.
    later_book = import_book(listener, "One more sentence to read.", "Later")
    later_id = render(listener, later_book, voiceId="custom_user_voice").json()["id"]
    later = wait_for(listener, later_id)
    assert later["status"] == "done", later
    worker = inference_worker(render_server)
    assert ended(worker) == batches_ended + 1, worker  # the later job's one batch, nothing else
    after = listener.get(f"/api/renders/{job_id}").json()
    assert (after["status"], after["done"]) == ("cancelled", done)
    assert done < after["total"] == 40

    # Cancelling a finished job changes nothing; a new request makes a new job.
    assert listener.delete(f"/api/renders/{job_id}").json() == after
    fresh = render(listener, book, voiceId="custom_user_voice")
    assert fresh.status_code == 202 and fresh.json()["id"] != job_id
    assert listener.delete(f"/api/renders/{fresh.json()['id']}").json()["status"] == "cancelled"


# --- refusals -------------------------------------------------------------------------------


def test_other_users_cannot_see_or_cancel_a_job(
    listener: httpx.Client, render_server: AppServer
) -> None:
    book = import_book(listener)
    job = render(listener, book, voiceId="stock-joe", chapterId=book["chapters"][1]["id"]).json()
    with create_user(render_server, unique("stranger")) as stranger:
        assert stranger.get(f"/api/renders/{job['id']}").status_code == 404
        assert stranger.delete(f"/api/renders/{job['id']}").status_code == 404
        assert stranger.get(f"/api/books/{book['id']}/renders").status_code == 404
        refused = render(stranger, book, voiceId="stock-joe")
        assert refused.status_code == 404 and "No such book" in refused.json()["detail"]
        # Nor render with someone else's voice.
        default = listener.get("/api/voices").json()["default_voice_id"]
        own_book = import_book(stranger)
        assert render(stranger, own_book, voiceId=default).status_code == 404
    assert wait_for(listener, job["id"])["status"] == "done"


def test_bad_requests_are_refused_with_what_to_do(
    listener: httpx.Client, render_server: AppServer
) -> None:
    book = import_book(listener)
    other_book = import_book(listener, title="Other")
    jobs_before = len(listener.get(f"/api/books/{book['id']}/renders").json())

    missing = render(listener, {"id": "nobook"}, voiceId="stock-joe")
    assert missing.status_code == 404
    wrong_chapter = render(
        listener, book, voiceId="stock-joe", chapterId=other_book["chapters"][0]["id"]
    )
    assert wrong_chapter.status_code == 404 and "chapter" in wrong_chapter.json()["detail"]
    assert render(listener, book, voiceId="stock-joe", chapterId="nochapter").status_code == 404
    assert listener.get("/api/renders/nojob").status_code == 404
    assert listener.delete("/api/renders/nojob").status_code == 404

    elevenlabs = render(listener, book, voiceId="21m00Tcm4TlvDq8ikWAM")
    assert elevenlabs.status_code == 400 and "ElevenLabs" in elevenlabs.json()["detail"]
    unknown_stock = render(listener, book, voiceId="stock-nobody")
    assert unknown_stock.status_code == 404 and "stock-nobody" in unknown_stock.json()["detail"]
    assert render(listener, book, voiceId="stock-joe", speed=3).status_code == 422
    assert render(listener, book, speed=1).status_code == 422

    failed = listener.post(
        "/api/voice/upload",
        data={"name": "too short", "language": "en", "consent": "attested"},
        files={"audio": ("short.wav", SHORT_WAV.read_bytes(), "audio/wav")},
    )
    assert failed.status_code == 422
    failed_id = next(
        v["id"] for v in listener.get("/api/voices").json()["voices"] if v["name"] == "too short"
    )
    not_ready = render(listener, book, voiceId=failed_id)
    assert not_ready.status_code == 409 and "failed to prepare" in not_ready.json()["detail"]

    with create_user(render_server, unique("voiceless")) as voiceless:
        own = import_book(voiceless)
        no_voice = render(voiceless, own, voiceId="custom_user_voice")
        assert no_voice.status_code == 400 and "Voices" in no_voice.json()["detail"]

    assert len(listener.get(f"/api/books/{book['id']}/renders").json()) == jobs_before == 0


def test_without_elevenlabs_an_unknown_voice_is_404_and_a_dead_service_fails_the_job(
    tmp_path: Path,
) -> None:
    """An app server whose inference service is down: creating a job still works (it waits in
    the queue, then for the service), and once its patience is spent the job fails saying what
    to do."""
    offline = start_app(tmp_path / "data", OWNVOICE_RENDER_READY_PATIENCE_SECONDS="1")
    try:
        with create_user(offline, unique("offline")) as client:
            book = import_book(client)
            unknown = render(client, book, voiceId="someone-elses-voice")
            assert unknown.status_code == 404 and "No such voice" in unknown.json()["detail"]
            created = render(client, book, voiceId="stock-joe")
            assert created.status_code == 202
            job = wait_for(client, created.json()["id"], timeout=30)
            assert job["status"] == "failed", job
            assert job["error"].startswith("The inference service is not reachable: start it")
            assert "render again" in job["error"]
            assert job["done"] == 0 and job["total"] == 6
    finally:
        offline.stop()


def test_a_job_waits_while_the_inference_service_is_down_and_cancel_still_stops_it(
    tmp_path: Path,
) -> None:
    """Down or still loading (as at start, next to the app server): the job waits for it rather
    than failing at once, and can be cancelled meanwhile."""
    offline = start_app(tmp_path / "data")
    waits = '"msg": "render job waits for the inference service"'
    try:
        with create_user(offline, unique("waiting")) as client:
            job_id = render(client, import_book(client), voiceId="stock-joe").json()["id"]
            deadline = time.monotonic() + 30
            while waits not in offline.process.log():
                assert time.monotonic() < deadline, offline.process.log()[-2000:]
                time.sleep(0.1)
            job = client.get(f"/api/renders/{job_id}").json()
            assert (job["status"], job["error"]) == ("running", None), job
            assert client.delete(f"/api/renders/{job_id}").json()["status"] == "cancelled"
            assert wait_for(client, job_id, timeout=30)["status"] == "cancelled"
    finally:
        offline.stop()


# --- restart recovery -------------------------------------------------------------------------


def test_a_job_interrupted_by_a_restart_runs_again(
    listener: httpx.Client, render_server: AppServer
) -> None:
    book = import_book(listener, LONG_STORY, "Interrupted")
    job_id = render(listener, book, voiceId="stock-joe").json()["id"]
    running = wait_for(listener, job_id, until=("running", *FINISHED))
    assert running["status"] == "running", running
    render_server.restart()
    job = wait_for(listener, job_id)
    assert (job["status"], job["done"], job["total"]) == ("done", 40, 40), job
    assert job["started_at"] != running["started_at"]  # claimed again after the restart


def test_a_job_is_claimed_under_a_lease_and_claimable_again_once_it_ran_out(
    tmp_path: Path,
) -> None:
    """The claim step on a real, migrated database (SQLite, or the PostgreSQL run's), on an
    injected clock: a job running under a live lease is nobody else's to take; once the lease
    ran out (its app server was killed) it is claimed again, oldest first, and the runner that
    lost it can no longer write to it."""
    engine = make_engine(database.url_for(tmp_path))
    run_migrations(engine)
    factory = session_factory(engine)
    start = utcnow()
    with factory() as db:
        user = User(username="reader", password_hash="x")
        db.add(user)
        db.flush()
        book = Book(user_id=user.id, title="B", language="en", source_format="paste")
        db.add(book)
        db.flush()
        jobs = {
            status: RenderJob(
                user_id=user.id,
                book_id=book.id,
                voice_id="stock-joe",
                status=status,
                created_at=start + timedelta(seconds=n),
            )
            for n, status in enumerate(("queued", "done", "cancelled"))
        }
        db.add_all(jobs.values())
        db.commit()
        ids = {status: job.id for status, job in jobs.items()}

    assert claim_next(factory, owner="a", lease_s=30, now=start) == ids["queued"]
    assert claim_next(factory, owner="b", lease_s=30, now=start + timedelta(seconds=29)) is None
    assert renew_lease(factory, ids["queued"], RenderJob, "a", 30)
    assert not renew_lease(factory, ids["queued"], RenderJob, "b", 30)  # not b's
    after = utcnow() + timedelta(seconds=31)  # a renewed at utcnow(): 30 s from then
    assert claim_next(factory, owner="b", lease_s=30, now=after) == ids["queued"]
    assert not update_running(factory, ids["queued"], RenderJob, "a", done=5)  # a lost it
    assert update_running(factory, ids["queued"], RenderJob, "b", done=5)
    assert claim_next(factory, owner="c", lease_s=30, now=after) is None  # done, cancelled stay
    assert release_leases(factory, RenderJob, "b") == 1  # b stops gracefully: queued at once
    assert claim_next(factory, owner="c", lease_s=30, now=after) == ids["queued"]
    engine.dispose()
