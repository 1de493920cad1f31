"""Several app servers on one database and one data directory (docs/deploy.md): two real app
server processes on the suite's database (PostgreSQL in `make test-backend-pg`; on SQLite the
two share the file) and the shared inference service.

A session made on one works on the other; failed logins count on both; a render job is claimed
by exactly one runner, even with many racing; a replica killed with SIGKILL mid-job has its job
taken over by the other once the lease ran out, which renders only what the cache lacks; a
user's limit on open audio streams counts their streams on both."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import database
import httpx
import postgres
import pytest
from conftest import add_user, create_user, login
from servers import AppServer, InferenceServer, closed_port_url, start_app_on
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from test_slow_clients import CACHED, STREAMS_PER_USER, close_all, cookie_of, new_user, slow_reader

from app.core.db import STARTUP_LOCK_KEY, make_engine, session_factory
from app.core.limits import StreamLimiter
from app.models.book import Book
from app.models.export_job import ExportJob
from app.models.render_job import RenderJob

LEASE_S = 2  # short, so that a takeover comes quickly
BATCH_SIZE = 2
SENTENCES = 12
DEADLINE_S = 300  # bounds a failing test only


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, inference: InferenceServer
) -> Iterator[list[AppServer]]:
    data_dir = tmp_path_factory.mktemp("replicas") / "data"
    env = {
        "OWNVOICE_JOB_LEASE_SECONDS": str(LEASE_S),
        "OWNVOICE_RENDER_BATCH_SIZE": str(BATCH_SIZE),
        # for the shared stream limit: cached audio of an ElevenLabs voice (never reached)
        "ELEVENLABS_API_KEY": "never-used",
        "ELEVENLABS_BASE_URL": closed_port_url(),
    }
    servers = [start_app_on(inference, data_dir, **env) for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


def until(condition: Callable[[], object], what: str, timeout: float = DEADLINE_S) -> object:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_a_session_made_on_one_replica_works_on_the_other(replicas: list[AppServer]) -> None:
    first, second = replicas
    name = f"both-{uuid.uuid4().hex[:6]}"
    create_user(first, name).close()
    with login(first, name, "password-123") as on_first:
        token = on_first.cookies["ownvoice_session"]
    with second.client(cookies={"ownvoice_session": token}) as on_second:
        me = on_second.get("/api/auth/me")
        assert me.status_code == 200 and me.json()["username"] == name, me.text


def test_failed_logins_on_one_replica_count_on_the_other(replicas: list[AppServer]) -> None:
    first, second = replicas
    name = f"guessed-{uuid.uuid4().hex[:6]}"
    wrong = {"username": name, "password": "not-the-password"}
    with first.client() as client:
        for _ in range(5):  # LoginLimiter.max_failures from one address
            assert client.post("/api/auth/login", json=wrong).status_code == 401
    with second.client() as client:
        refused = client.post("/api/auth/login", json=wrong)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) > 0


@pytest.mark.parametrize("model", [RenderJob, ExportJob])
def test_racing_runners_claim_every_job_exactly_once(
    tmp_path: Path, migrated: Engine, model: type
) -> None:
    """Eight runners, each with its own connection pool (as replicas have), race for 40
    queued jobs: each job is claimed by exactly one of them, and none is left."""
    from app.services.renders import claim_next

    user_id = add_user(migrated, "reader")
    with session_factory(migrated)() as db:
        book = Book(user_id=user_id, title="B", language="en", source_format="paste")
        db.add(book)
        db.flush()
        extra = {"format": "m4b"} if model is ExportJob else {}
        db.add_all(
            model(user_id=user_id, book_id=book.id, voice_id="stock-joe", **extra)
            for _ in range(40)
        )
        db.commit()

    claims: dict[str, list[str]] = {}
    start = threading.Barrier(8)

    def runner(name: str) -> None:
        own = make_engine(database.url_for(tmp_path))
        factory = session_factory(own)
        claims[name] = []
        start.wait()
        while (job_id := claim_next(factory, model, owner=name, lease_s=600)) is not None:
            claims[name].append(job_id)
        own.dispose()

    threads = [threading.Thread(target=runner, args=(f"r{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [job_id for ids in claims.values() for job_id in ids]
    assert len(claimed) == 40 and len(set(claimed)) == 40, claims
    owners = dict(database.rows(tmp_path, f"SELECT id, lease_owner FROM {model.__tablename__}"))
    assert all(owners[job_id] == name for name, ids in claims.items() for job_id in ids)


@pytest.mark.skipif(
    not postgres.ENABLED, reason="the startup lock is PostgreSQL's (SQLite: one app server)"
)
def test_replicas_starting_together_migrate_one_at_a_time(
    tmp_path: Path, inference: InferenceServer
) -> None:
    """While the startup lock is held elsewhere, two app servers starting on a fresh database
    both wait for it; once it is free they come up one after the other: one schema, one admin."""
    import psycopg

    data_dir = tmp_path / "data"
    url = database.url_for(data_dir).replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (STARTUP_LOCK_KEY,))
        started: list[AppServer] = []
        threads = [
            threading.Thread(target=lambda: started.append(start_app_on(inference, data_dir)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        until(lambda: holder.execute(waiting).fetchone()[0] == 2, "both to wait for the lock")
        holder.execute("SELECT pg_advisory_unlock(%s)", (STARTUP_LOCK_KEY,))
    for thread in threads:
        thread.join()
    try:
        assert len(started) == 2
        assert database.rows(data_dir, "SELECT count(*) FROM alembic_version") == [(1,)]
        assert database.rows(data_dir, "SELECT count(*) FROM users WHERE is_admin") == [(1,)]
        for server in started:
            assert httpx.get(server.url + "/api/health").status_code == 200
    finally:
        for server in started:
            server.stop()


def test_a_starting_replica_leaves_young_temporary_files_to_the_others(
    tmp_path: Path, migrated: Engine
) -> None:
    """With OWNVOICE_ORPHAN_MIN_AGE_SECONDS, a starting app server deletes only temporary files
    left unchanged that long (a crash's), not the uploads and cache writes other replicas have
    in flight; without it (one app server) every one left at start goes."""
    import os

    from app.main import sweep_orphans
    from app.services.audio_cache import TEMP_PREFIX
    from app.services.uploads import UPLOAD_PREFIX

    factory = session_factory(migrated)
    (tmp_path / "uploads").mkdir()
    (tmp_path / "audio_cache" / "ab").mkdir(parents=True)
    stale = tmp_path / "uploads" / f"{UPLOAD_PREFIX}crashed"
    in_flight = tmp_path / "audio_cache" / "ab" / f"{TEMP_PREFIX}writing"
    for path in (stale, in_flight):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    sweep_orphans(tmp_path, factory, min_age_s=3600)
    assert not stale.exists() and in_flight.exists()
    sweep_orphans(tmp_path, factory)  # one app server: everything left at start is a crash's
    assert not in_flight.exists()


def cache_entries(data_dir: Path) -> int:
    return len(list((data_dir / "audio_cache").glob("*/*.audio")))


def test_a_users_open_streams_count_on_every_replica(replicas: list[AppServer]) -> None:
    """Four streams open on one replica (nobody reads them): the fifth, asked of the other, is
    refused; once one of the four ends, the other replica serves it."""
    first, second = replicas
    with new_user(first, "both-streams") as listener:
        readers = [slow_reader(first, cookie_of(listener)) for _ in range(STREAMS_PER_USER)]
        try:
            with second.client(cookies=dict(listener.cookies)) as on_second:
                refused = on_second.post("/api/tts", json=CACHED)
                assert refused.status_code == 429, refused.text
                readers.pop().close()
                served = until(
                    lambda: (r := on_second.post("/api/tts", json=CACHED)).status_code == 200 and r,
                    "the slot of the closed stream",
                    timeout=30,
                )
                assert served.headers["x-cache"] == "hit"
        finally:
            close_all(readers)


def test_racing_app_servers_never_open_more_streams_than_the_limit(
    tmp_path: Path, migrated: Engine
) -> None:
    """Eight limiters (eight app servers, each with its own connection pool) race to open
    streams for one user: exactly `per_user` get a slot. Released slots free a place; a slot of
    an app server that died stops counting when its lease runs out, or at once when the same
    replica starts again (`take_back`); renewed ones keep counting."""
    user_id = add_user(migrated, "listener")

    now = [1000.0]
    granted: dict[str, object] = {}
    start = threading.Barrier(8)
    engines = []

    def limiter(owner: str) -> StreamLimiter:
        own = make_engine(database.url_for(tmp_path))
        engines.append(own)
        return StreamLimiter(session_factory(own), 4, owner, lease_s=60, clock=lambda: now[0])

    def racer(name: str) -> None:
        mine = limiter(f"host:{name}/1/aa")
        start.wait()
        granted[name] = mine.acquire(user_id)

    threads = [threading.Thread(target=racer, args=(f"r{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots = [slot for slot in granted.values() if slot is not None]
    assert len(slots) == 4, granted

    a = limiter("host:a/1/aa")  # an app server that renews its streams
    assert a.acquire(user_id) is None
    slots[0].release()  # type: ignore[attr-defined]
    held = a.acquire(user_id)
    assert held is not None and a.open_streams(user_id) == 4
    now[0] += 59
    assert a.renew() == 1  # a's stream: 60 s from now again
    now[0] += 2  # the other three racers' leases ran out (their app servers died)
    assert a.open_streams(user_id) == 1
    assert [a.acquire(user_id) is not None for _ in range(4)] == [True, True, True, False]

    restarted = limiter("host:a/2/bb")  # replica "host:a" started again after a crash
    assert restarted.take_back("host:a") == 4
    assert restarted.open_streams(user_id) == 0
    for own in engines:
        own.dispose()


def test_streams_are_counted_in_process_when_the_database_cannot_be_written(
    tmp_path: Path,
) -> None:
    """A database that cannot be written (here: it cannot even be opened) does not stop cached
    audio from playing: the limiter counts those streams in its own process, to the same limit."""
    broken = make_engine(f"sqlite:///{tmp_path / 'no-such-directory' / 'ownvoice.db'}")
    limiter = StreamLimiter(session_factory(broken), 2, "host:1/1/aa", lease_s=60)
    first, second = limiter.acquire("someone"), limiter.acquire("someone")
    assert first is not None and second is not None
    assert limiter.acquire("someone") is None  # the limit still holds
    assert limiter.acquire("someone else") is not None  # per user
    first.release()
    assert limiter.acquire("someone") is not None
    broken.dispose()


def test_a_stream_whose_release_failed_stops_counting_at_the_next_renewal(
    migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release that cannot reach the database for a moment (locked, failing over) leaves the
    row; the next renewal removes it instead of renewing it, so the user is not locked out."""
    user_id = add_user(migrated, "blip")
    limiter = StreamLimiter(session_factory(migrated), 1, "host:a/1/aa", lease_s=60)
    slot = limiter.acquire(user_id)
    assert slot is not None

    def unreachable(slot_id: str) -> None:
        raise OperationalError("DELETE FROM open_streams", {}, Exception("database is locked"))

    monkeypatch.setattr(limiter, "_release_shared", unreachable)
    slot.release()
    monkeypatch.undo()
    assert limiter.acquire(user_id) is None  # its row still counts, until the renewal
    assert limiter.renew() == 0  # renews nothing, removes the ended stream's row
    assert limiter.open_streams(user_id) == 0
    assert limiter.acquire(user_id) is not None


def test_a_database_outage_does_not_let_a_user_past_the_limit(
    migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the database cannot be reached, the streams this process already holds for the
    user count against the limit of those it counts on its own."""
    user_id = add_user(migrated, "outage")
    limiter = StreamLimiter(session_factory(migrated), 2, "host:a/1/aa", lease_s=60)
    held = [limiter.acquire(user_id), limiter.acquire(user_id)]
    assert None not in held

    def outage(user_id: str) -> None:
        raise OperationalError("INSERT INTO open_streams", {}, Exception("connection lost"))

    monkeypatch.setattr(limiter, "_acquire_shared", outage)
    assert limiter.acquire(user_id) is None  # two open already
    held[0].release()  # type: ignore[union-attr]
    assert limiter.acquire(user_id) is not None  # counted in this process
    assert limiter.acquire(user_id) is None


def test_a_caller_cancelled_while_its_slot_is_taken_gives_it_back(
    migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that goes away while its stream's slot is being taken (the route's task is
    cancelled) leaves no slot behind: it is given back once taken."""
    user_id = add_user(migrated, "gone")
    limiter = StreamLimiter(session_factory(migrated), 1, "host:a/1/aa", lease_s=60)
    taking, go, released = threading.Event(), threading.Event(), threading.Event()
    acquire_shared, release_shared = limiter._acquire_shared, limiter._release_shared

    def slow(user_id: str) -> object:
        taking.set()
        go.wait(10)
        return acquire_shared(user_id)

    def release(slot_id: str) -> None:
        release_shared(slot_id)
        released.set()

    monkeypatch.setattr(limiter, "_acquire_shared", slow)
    monkeypatch.setattr(limiter, "_release_shared", release)

    async def client_goes_away() -> None:
        route = asyncio.create_task(limiter.aacquire(user_id))
        assert await asyncio.to_thread(taking.wait, 10)
        route.cancel()
        with pytest.raises(asyncio.CancelledError):
            await route
        go.set()  # the slot is taken now, with nobody to use it
        assert await asyncio.to_thread(released.wait, 10)

    asyncio.run(client_goes_away())
    assert limiter.open_streams(user_id) == 0
    assert limiter.renew() == 0


def test_a_killed_replicas_job_is_taken_over_once_its_lease_ran_out(
    replicas: list[AppServer],
) -> None:
    data_dir = replicas[0].data_dir
    client = create_user(replicas[0], f"reader-{uuid.uuid4().hex[:6]}")
    text = " ".join(f"Line {n} of the story is said once." for n in range(SENTENCES))
    book = client.post("/api/books", json={"title": "Long", "text": text, "language": "en"})
    assert book.status_code == 201, book.text
    before = cache_entries(data_dir)
    job = client.post(f"/api/books/{book.json()['id']}/renders", json={"voiceId": "stock-joe"})
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]

    def job_row() -> tuple:
        return database.rows(
            data_dir,
            "SELECT status, done, total, cached, lease_owner FROM render_jobs WHERE id = :id",
            id=job_id,
        )[0]

    until(lambda: job_row()[0] == "running" and job_row()[1] >= BATCH_SIZE, "a first batch")
    owner_pid = int(job_row()[4].split("/")[1])
    worker = next(s for s in replicas if s.process.proc.pid == owner_pid)
    other = next(s for s in replicas if s is not worker)
    worker.process.kill()  # SIGKILL mid-job: no shutdown code runs, the lease just stops
    status, done, total, _, _ = job_row()
    assert status == "running" and done < total == SENTENCES, job_row()
    in_cache_at_kill = cache_entries(data_dir) - before

    with other.client(cookies=client.cookies) as on_other:
        final = until(
            lambda: (
                (j := on_other.get(f"/api/renders/{job_id}").json())["status"] != "running" and j
            ),
            "the takeover to finish the job",
        )
    assert (final["status"], final["done"], final["total"]) == ("done", SENTENCES, SENTENCES), final
    # The other replica found what the killed one had cached and rendered only the rest: each
    # sentence went into the cache once (in_cache_at_kill + the rest), and none is missing.
    assert final["cached"] == in_cache_at_kill, (final, in_cache_at_kill)
    assert cache_entries(data_dir) - before == SENTENCES
    assert str(other.process.proc.pid) in job_row()[4]
    client.close()
