"""Render jobs: one background task fills the audio cache ahead of listening.

The runner takes the oldest queued job, lists its sentences in reading order, keys each one
exactly as POST /api/tts would key it for the reader (so the reader plays them from the
cache), and sends the missing ones to the inference service's POST /generate/batch, a batch
at a time. Each finished sentence is committed to the cache and counted in the job's `done`
as it lands, with what the service heard of it (its verification and word timings, which
also add up to the job's `verification` summary, app.services.quality). A sentence the
service refuses to speak (nothing speakable in it) is counted in `skipped` and passed over:
one bad sentence never fails a job, only a service that is gone or broken does.

The database holds the state. A job is claimed with a conditional UPDATE (queued → running)
and every later write requires it still to be running, so a DELETE (→ cancelled) always wins:
the route also tells the runner, which then cancels its work at once and closes the upstream
stream (that close is what stops the generation).

Several app servers may share the database (docs/deploy.md). A claim is a lease: the job row
names the runner (`lease_owner`) and until when it holds the job (`lease_expires_at`,
OWNVOICE_JOB_LEASE_SECONDS ahead); the runner renews it every third of that while it works,
and every write requires the lease to be still its own. A job whose lease ran out (its app
server was killed) is claimed by another runner, which renders only what the cache still
lacks; a runner that lost its lease stops at its next write or renewal. On PostgreSQL the claim
reads with FOR UPDATE SKIP LOCKED, so runners racing for the queue do not wait on each other;
the conditional UPDATE is what makes the claim exclusive on both databases. An app server that
stops gracefully hands its job back to the queue at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import affected_rows
from app.core.files import DISK_FULL_MESSAGE
from app.core.leases import left_by_earlier_process, new_owner, renewal_interval
from app.models.book import Book, Chapter, Sentence
from app.models.render_job import (
    RENDER_ACTIVE,
    RENDER_CANCELLED,
    RENDER_DONE,
    RENDER_FAILED,
    RENDER_QUEUED,
    RENDER_RUNNING,
    RenderJob,
)
from app.models.user import User, utcnow
from app.services import quality
from app.services.audio_cache import AudioCache
from app.services.elevenlabs import ElevenLabsClient
from app.services.errors import (
    DomainError,
    ElevenLabsNotConfigured,
    NotRenderable,
    TooMany,
    VoiceNotFound,
)
from app.services.inference_client import UNREACHABLE, InferenceClient, InferenceError
from app.services.speech import (
    NATIVE_FORMATS,
    SpeechRequest,
    Synthesizer,
    VoiceTarget,
    keyed_as_expected,
    normalize_speed,
    own_voice_target,
    resolve_voice,
    shared_voice_target,
    speech_cache_key,
    speech_payload,
)

log = logging.getLogger("ownvoice.renders")

# What the reader's player asks POST /api/tts for: raw PCM, which Web Audio schedules gaplessly
# (frontend/src/lib/tts.ts). Another format would key other cache entries than the reader plays.
RENDER_FORMAT = "pcm_24000"
IDLE_POLL_SECONDS = 30.0  # a safety net only: creating a job wakes the runner at once
# While the reader listens, /generate goes first and a batch may be refused as busy (429):
# wait and retry for this long before giving up on the job.
BUSY_PATIENCE_SECONDS = 300.0
# The service's answers that refuse one text, not the job: such a sentence is skipped.
TEXT_REFUSALS = frozenset({"nothing_to_say", "invalid_text"})
RERENDER_HINT = "Sentences already rendered stay cached: render again to finish."
READY_POLL_SECONDS = 1.0
# Batches of one job in flight at once: OWNVOICE_RENDER_BATCHES_PER_REPLICA (default 1) per
# inference replica (/ready's `replicas`, Ray Serve), so N replicas render a book about N times
# faster. Two per replica keep each replica's next batch waiting while this server stores the
# last one's audio (one replica: 41 s instead of 49 in `make bench-scale`), but Ray's router then
# spreads a job's first batches unevenly (four replicas: 26 s instead of 17): README, Scaling.
# Bounded against a wild answer.
MAX_BATCHES_IN_FLIGHT = 64
# The inference service going away in the middle of a job (a crash, a restart): wait for it and
# go on with what is still missing, this many times per job.
DOWN_RETRIES = 3
SERVICE_DOWN_CODES = (UNREACHABLE, "inference_stream_broken")
VOICE_DELETED = "The voice of this job was deleted: choose another voice and render again."


class RenderFailed(Exception):
    """The job cannot go on; the message says what to do next."""


class JobStopped(Exception):
    """The job is no longer running in the database: cancelled, or its book deleted."""


@dataclass
class Plan:
    """What a job renders: its voice, the settings every sentence shares, the texts in order."""

    target: VoiceTarget
    request: SpeechRequest  # a template: `text` is each sentence in turn
    texts: list[str]


@dataclass
class Pending:
    """A text still to render, and how many of the job's sentences it stands for (a text
    that repeats, such as "Yes.", is one cache entry)."""

    key: str
    text: str
    sentences: int = 1


@dataclass(frozen=True)
class JobRun:
    """What every batch of one run of a job shares."""

    job_id: str
    plan: Plan
    model_id: str | None
    tally: Tally


@dataclass
class Tally:
    """A job's counts as it runs: sentences in the cache, and sentences passed over."""

    done: int = 0
    skipped: int = 0
    heard: quality.Tally = field(default_factory=quality.Tally)


# --- database steps (run in worker threads) -------------------------------------------


# Render and export jobs share these steps: `model` is the job table (RenderJob, ExportJob).
JobModel = Any


def claimable(model: JobModel, now: datetime) -> Any:
    """Queued, or running under a lease that ran out (or under none: left by an older version)."""
    lapsed = or_(model.lease_expires_at.is_(None), model.lease_expires_at < now)
    return or_(model.status == RENDER_QUEUED, and_(model.status == RENDER_RUNNING, lapsed))


def claim_next(
    factory: sessionmaker[Session],
    model: JobModel = RenderJob,
    owner: str = "",
    lease_s: float = 30.0,
    now: datetime | None = None,
) -> str | None:
    """The oldest claimable job, now running under `owner`'s lease; None when there is none."""
    with factory() as db:
        while True:
            at = now or utcnow()
            job_id = db.scalar(
                select(model.id)
                .where(claimable(model, at))
                .order_by(model.created_at, model.id)
                .limit(1)
                .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
            )
            if job_id is None:
                return None
            claimed = db.execute(
                update(model)
                .where(model.id == job_id, claimable(model, at))
                .values(
                    status=RENDER_RUNNING,
                    started_at=at,
                    error=None,
                    lease_owner=owner,
                    lease_expires_at=at + timedelta(seconds=lease_s),
                )
            )
            db.commit()
            if affected_rows(claimed) == 1:  # else another runner or a cancel came first
                return job_id


def renew_lease(
    factory: sessionmaker[Session], job_id: str, model: JobModel, owner: str, lease_s: float
) -> bool:
    """Extend `owner`'s lease on a running job; False once it is not theirs or not running."""
    return update_running(
        factory, job_id, model, owner, lease_expires_at=utcnow() + timedelta(seconds=lease_s)
    )


def release_leases(factory: sessionmaker[Session], model: JobModel, owner: str) -> int:
    """A stopping runner's running jobs go back to the queue, for any runner to take at once."""
    with factory() as db:
        result = db.execute(
            update(model)
            .where(model.status == RENDER_RUNNING, model.lease_owner == owner)
            .values(status=RENDER_QUEUED, started_at=None, lease_owner=None, lease_expires_at=None)
        )
        db.commit()
        return affected_rows(result)


def take_back(factory: sessionmaker[Session], model: JobModel, replica: str, owner: str) -> int:
    """Jobs left running by an earlier process of this replica (a crash: its runner is gone,
    since the replica's name is one process's at a time) go back to the queue now, rather than
    when their leases run out."""
    if not replica:
        return 0
    with factory() as db:
        result = db.execute(
            update(model)
            .where(
                model.status == RENDER_RUNNING,
                left_by_earlier_process(model.lease_owner, replica, owner),
            )
            .values(status=RENDER_QUEUED, started_at=None, lease_owner=None, lease_expires_at=None)
        )
        db.commit()
        return affected_rows(result)


def update_running(
    factory: sessionmaker[Session],
    job_id: str,
    model: JobModel = RenderJob,
    owner: str | None = None,
    **values: Any,
) -> bool:
    """Write to a job only while it is running under `owner`'s lease; False once it was
    cancelled, deleted or taken over."""
    with factory() as db:
        result = db.execute(
            update(model)
            .where(model.id == job_id, model.status == RENDER_RUNNING, model.lease_owner == owner)
            .values(**values)
        )
        db.commit()
        return affected_rows(result) == 1


def cancel_job(db: Session, job: JobModel) -> JobModel:
    """Queued or running → cancelled; a finished job stays as it is."""
    model = type(job)
    db.execute(
        update(model)
        .where(model.id == job.id, model.status.in_((RENDER_QUEUED, RENDER_RUNNING)))
        .values(status=RENDER_CANCELLED, finished_at=utcnow())
    )
    db.commit()
    db.refresh(job)
    return job


@dataclass
class JobSpec:
    """What a job's database rows say it renders, before its voice is routed."""

    user: User
    voice_id: str
    request: SpeechRequest  # a template: `text` is each sentence in turn
    texts: list[str]
    own: VoiceTarget | None  # the user's clone (None: a shared voice, routed by the listing)


def load_spec(factory: sessionmaker[Session], job_id: str) -> JobSpec:
    with factory() as db:
        job = db.get(RenderJob, job_id)
        book = db.get(Book, job.book_id) if job else None
        user = db.get(User, job.user_id) if job else None
        if job is None or book is None or user is None:
            raise JobStopped
        query = select(Sentence.text).order_by(Sentence.position)
        query = (
            query.where(Sentence.chapter_id == job.chapter_id)
            if job.chapter_id
            else query.where(Sentence.book_id == job.book_id)
        )
        return job_spec(db, user, book, job, list(db.scalars(query)))


def job_spec(db: Session, user: User, book: Book, job: JobModel, texts: list[str]) -> JobSpec:
    """The spec of a job (render or export) that speaks `texts` of `book`."""
    # Language, format and speed as the reader sends them to POST /api/tts.
    request = SpeechRequest(
        text="", language=book.language or "en", native_format=RENDER_FORMAT, speed=job.speed
    )
    try:
        own = own_voice_target(db, user, job.voice_id)
    except VoiceNotFound as exc:
        raise RenderFailed(VOICE_DELETED) from exc
    except DomainError as exc:  # e.g. the voice is being prepared again
        raise RenderFailed(exc.message) from exc
    return JobSpec(user, job.voice_id, request, texts, own)


SpecLoader = Callable[[sessionmaker[Session], str], JobSpec]


async def load_plan(
    factory: sessionmaker[Session],
    inference: InferenceClient,
    job_id: str,
    loader: SpecLoader = load_spec,
) -> Plan:
    """The job's plan, its voice routed as POST /api/tts would route it (no ElevenLabs)."""
    spec = await asyncio.to_thread(loader, factory, job_id)
    target = spec.own
    if target is None:
        try:
            target = await shared_voice_target(spec.user.id, spec.voice_id, inference, None)
        except (VoiceNotFound, ElevenLabsNotConfigured) as exc:
            raise RenderFailed(VOICE_DELETED) from exc
    return Plan(target, spec.request, spec.texts)


# --- creating a job -------------------------------------------------------------------

VOICE_NOT_FOUND = "No such voice '{}': choose one of your voices or a stock voice."
ELEVENLABS_REFUSED = (
    "ElevenLabs voices are paid per character, so they are fetched as you listen and never "
    "rendered ahead: choose one of your voices or a stock voice."
)
RENDER_RETRY_SECONDS = 60


async def render_voice(
    db: Session,
    user: User,
    voice_id: str,
    inference: InferenceClient,
    elevenlabs: ElevenLabsClient | None,
) -> str:
    """The real voice id a job renders with (never `custom_user_voice`, which names the
    default voice of the moment), routed as POST /api/tts routes it: 404 another user's
    voice or an unknown one, 409 one not ready, 400 custom_user_voice without a voice of
    one's own, and 400 an ElevenLabs voice (never rendered ahead)."""
    try:
        target = await resolve_voice(db, user, voice_id, inference, elevenlabs)
    except (VoiceNotFound, ElevenLabsNotConfigured) as exc:
        raise VoiceNotFound(voice_id, VOICE_NOT_FOUND.format(voice_id[:80])) from exc
    if target.engine == "elevenlabs":
        raise NotRenderable(ELEVENLABS_REFUSED)
    return target.voice_id


def active_twin(db: Session, job: RenderJob) -> RenderJob | None:
    """A queued or running job that renders exactly what `job` would."""
    return db.scalar(
        select(RenderJob)
        .where(
            RenderJob.book_id == job.book_id,
            RenderJob.chapter_id.is_(None)
            if job.chapter_id is None
            else RenderJob.chapter_id == job.chapter_id,
            RenderJob.voice_id == job.voice_id,
            RenderJob.speed == job.speed,
            RenderJob.status.in_(RENDER_ACTIVE),
        )
        .order_by(RenderJob.created_at)
        .limit(1)
    )


def check_queue_room(
    db: Session, user: User, limit: int, model: JobModel = RenderJob, kind: str = "render"
) -> None:
    active = db.scalar(
        select(func.count())
        .select_from(model)
        .where(model.user_id == user.id, model.status.in_(RENDER_ACTIVE))
    )
    if active is not None and active >= limit:
        raise TooMany(
            f"You already have {active} {kind} jobs queued or running, the most one "
            f"user may have: wait for one to finish or cancel one, then {kind} again.",
            retry_after=RENDER_RETRY_SECONDS,
        )


@dataclass
class NewJob:
    """What to render: a chapter of the book, or the whole book when `chapter` is None."""

    user: User
    book: Book
    chapter: Chapter | None
    voice_id: str
    speed: float


async def queue_job(
    db: Session,
    new: NewJob,
    inference: InferenceClient,
    elevenlabs: ElevenLabsClient | None,
    max_jobs: int,
) -> tuple[RenderJob, bool]:
    """Queue a render job; an identical job already queued or running is returned instead.
    The job, and whether it was created now."""
    voice_id = await render_voice(db, new.user, new.voice_id, inference, elevenlabs)
    job = RenderJob(
        user_id=new.user.id,
        book_id=new.book.id,
        chapter_id=new.chapter.id if new.chapter else None,
        voice_id=voice_id,
        speed=normalize_speed(new.speed),  # 1.01 is the same job as 1.0
        total=new.chapter.sentence_count if new.chapter else new.book.sentence_count,
    )
    twin = active_twin(db, job)
    if twin is not None:
        return twin, False
    check_queue_room(db, new.user, max_jobs)
    db.add(job)
    db.commit()
    return job, True


# --- cache steps ----------------------------------------------------------------------


def pending_texts(cache: AudioCache, plan: Plan, model_id: str | None) -> tuple[list[Pending], int]:
    """The job's distinct texts missing from the cache, in reading order, and how many of the
    job's sentences are cached already."""
    pending: dict[str, Pending] = {}
    cached_keys: set[str] = set()
    cached = 0
    for text in plan.texts:
        key = speech_cache_key(plan.target, replace(plan.request, text=text), model_id)
        if key in pending:
            pending[key].sentences += 1
        elif key in cached_keys or cache.get(key) is not None:
            cached_keys.add(key)
            cached += 1
        else:
            pending[key] = Pending(key, text)
    return list(pending.values()), cached


def split_cached(cache: AudioCache, batch: list[Pending]) -> tuple[list[Pending], int]:
    """Drop what reached the cache meanwhile (the reader may be listening): the rest, and how
    many sentences the dropped ones stand for."""
    missing = [item for item in batch if cache.get(item.key) is None]
    return missing, sum(item.sentences for item in batch) - sum(i.sentences for i in missing)


def store_audio(
    cache: AudioCache,
    key: str,
    media_type: str,
    headers: dict[str, str],
    audio: bytes,
    heard: dict[str, Any] | None = None,
) -> None:
    writer = cache.writer(key, media_type, headers, heard)
    try:
        writer.write(audio)
    except BaseException:
        writer.discard()
        raise
    if not writer.commit():  # rendering ahead is only worth it if the audio is kept
        raise RenderFailed(
            DISK_FULL_MESSAGE
            if writer.disk_full
            else "The audio could not be stored in the cache: see the app server's log, then "
            "render again."
        )


def batches(items: list[Pending], size: int) -> Iterator[list[Pending]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def refuses_text(exc: InferenceError) -> bool:
    """The service refused a text of the batch (not the voice, the model or the job)."""
    return exc.status_code == 400 and exc.code in TEXT_REFUSALS


def _failure_message(exc: InferenceError) -> str:
    if exc.code == "inference_unreachable":
        return "The inference service is not reachable: start it (make start), then render again."
    if exc.status_code == 429:
        return "The inference service stayed busy for minutes: render again later."
    return f"The inference service refused to render: {exc.message} Then render again."


async def wait_for_inference(inference: InferenceClient, patience_s: float) -> None:
    """Return once the inference service answers /ready with ready: true.

    It may still be starting next to the app server (loading a model takes seconds to
    minutes) or be restarting after a crash. Raises the last InferenceError (or RenderFailed
    when it answered but never became ready) after `patience_s`; a rejected token at once.
    """
    deadline = time.monotonic() + patience_s
    logged = False
    while True:
        try:
            ready = await inference.ready(fresh=True)
            if ready.get("ready"):
                return
            problem: Exception = RenderFailed(
                f"The inference service stayed not ready for {patience_s:g} s "
                f"({ready.get('reason') or 'no reason given'}): check its log, then render again."
            )
        except InferenceError as exc:
            if not _worth_waiting_for(exc):
                raise
            problem = exc
        if time.monotonic() >= deadline:
            raise problem
        if not logged:
            log.info("render job waits for the inference service", extra={"reason": str(problem)})
            logged = True
        await asyncio.sleep(READY_POLL_SECONDS)


def _service_down(exc: InferenceError) -> bool:
    return exc.code in SERVICE_DOWN_CODES


def _worth_waiting_for(exc: InferenceError) -> bool:
    """Down, starting or overloaded: it may come back. A rejected token will not."""
    return _service_down(exc) or (exc.status_code >= 500 and exc.code != "inference_token_rejected")


# --- the runner -----------------------------------------------------------------------


class RenderRunner:
    """One asyncio task that works through the queue, one job at a time, oldest first.

    Export jobs run on a subclass (app.services.exports.jobs): `model` is the job table,
    `_load_spec` what a job speaks, and `_work` what a claimed job does."""

    model: JobModel = RenderJob
    kind = "render"

    def __init__(
        self,
        factory: sessionmaker[Session],
        synthesizer: Synthesizer,
        batch_size: int,
        ready_patience_s: float = 600.0,
        lease_s: float = 30.0,
        replica: str = "",
        batches_per_replica: int = 1,
    ) -> None:
        self._factory = factory
        self._batches_per_replica = batches_per_replica
        self._lease_s = lease_s
        self._replica = replica
        self.owner = new_owner(replica)
        self._ready_patience_s = ready_patience_s
        self._synthesizer = synthesizer
        self._cache = synthesizer.cache
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._job_id: str | None = None
        self._job_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=f"{self.kind}-runner")

    async def stop(self) -> None:
        """Stop working; a running job goes back to the queue (what it rendered stays cached).
        After a crash instead, the job waits for its lease to run out."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            with contextlib.suppress(Exception):  # the database is gone: the lease runs out
                await asyncio.to_thread(release_leases, self._factory, self.model, self.owner)
        self._task = self._loop = None

    # Called from request handlers, which may run in worker threads.
    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._call_in_loop(self._wake.set)

    def cancelled(self, job_id: str) -> None:
        """The job was marked cancelled: if it is the one running, stop it now."""
        self._call_in_loop(self._cancel_if_current, job_id)

    def _call_in_loop(self, callback: Any, *args: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing: nothing to tell
                self._loop.call_soon_threadsafe(callback, *args)

    def _cancel_if_current(self, job_id: str) -> None:
        if self._job_id == job_id and self._job_task is not None:
            self._job_task.cancel()

    async def _run(self) -> None:
        try:
            taken = await asyncio.to_thread(
                take_back, self._factory, self.model, self._replica, self.owner
            )
            if taken:
                log.info("took back jobs a crash left running", extra={"count": taken})
        except Exception:
            log.exception("cannot take back jobs a crash left running")
        while True:
            self._wake.clear()  # before looking, so a job queued meanwhile is not missed
            try:
                job_id = await asyncio.to_thread(
                    claim_next, self._factory, self.model, self.owner, self._lease_s
                )
            except Exception:
                log.exception("cannot read the render queue")
                job_id = None
            if job_id is None:
                with contextlib.suppress(TimeoutError):
                    # at least once a lease: a job whose app server died is taken over then
                    await asyncio.wait_for(self._wake.wait(), min(IDLE_POLL_SECONDS, self._lease_s))
                continue
            await self._run_job(job_id)

    async def _run_job(self, job_id: str) -> None:
        self._job_id = job_id
        self._job_task = asyncio.create_task(self._render(job_id), name=f"{self.kind}-{job_id}")
        heartbeat = asyncio.create_task(self._keep_lease(job_id))
        try:
            await self._job_task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the app server is stopping, not the job
            log.info("render job cancelled", extra={"job_id": job_id})
        except Exception:  # e.g. the database went away: keep the runner alive for the next job
            log.exception("render job ended on an error", extra={"job_id": job_id})
        finally:
            heartbeat.cancel()
            self._job_id = self._job_task = None

    async def _keep_lease(self, job_id: str) -> None:
        """Renew the job's lease while it runs; stop the work once the lease is lost (the job
        was cancelled, or taken over by another app server after this one stalled)."""
        while True:
            await asyncio.sleep(renewal_interval(self._lease_s))
            try:
                kept = await asyncio.to_thread(
                    renew_lease, self._factory, job_id, self.model, self.owner, self._lease_s
                )
            except Exception:  # the database is away for a moment: try again next beat
                log.warning("cannot renew a job's lease", extra={"job_id": job_id})
                continue
            if not kept:
                log.info(f"{self.kind} job is no longer ours: stopping", extra={"job_id": job_id})
                self.cancelled(job_id)  # an export's writer thread too
                return

    async def _render(self, job_id: str) -> None:
        """Run one job to its end, recording how it ended unless it was cancelled."""
        started = time.monotonic()
        try:
            values = await self._work(job_id)
        except JobStopped:
            log.info("render job stopped: cancelled or deleted", extra={"job_id": job_id})
            return
        except RenderFailed as exc:
            await self._finish(job_id, RENDER_FAILED, error=str(exc))
            return
        except InferenceError as exc:
            await self._finish(job_id, RENDER_FAILED, error=_failure_message(exc))
            return
        except Exception as exc:
            log.exception("render job failed", extra={"job_id": job_id})
            error = (
                f"Rendering stopped on an unexpected error ({type(exc).__name__}): see the "
                "app server's log, then render again."
            )
            await self._finish(job_id, RENDER_FAILED, error=error)
            return
        await self._finish(job_id, RENDER_DONE, **values)
        log.info(
            f"{self.kind} job done",
            extra={"job_id": job_id, "seconds": round(time.monotonic() - started, 1), **values},
        )

    async def _work(self, job_id: str) -> dict[str, Any]:
        """Do a claimed job; the values its row takes when it is done."""
        tally = await self._render_when_ready(job_id)
        return {"done": tally.done, "skipped": tally.skipped}

    async def _finish(self, job_id: str, status: str, **values: Any) -> None:
        if status == RENDER_FAILED:
            log.info("render job failed", extra={"job_id": job_id, "error": values.get("error")})
        await asyncio.to_thread(
            update_running,
            self._factory,
            job_id,
            self.model,
            self.owner,
            status=status,
            finished_at=utcnow(),
            **values,
        )

    def _heard_values(self, tally: Tally) -> dict[str, Any]:
        """The job's verification summary as its row stores it (a job table without the column,
        such as another kind of job run by a subclass, stores none)."""
        model = getattr(self, "model", RenderJob)
        if not hasattr(model, "verification_json"):
            return {}
        return {"verification_json": tally.heard.to_json()}

    async def _progress(self, job_id: str, **values: Any) -> None:
        if not await asyncio.to_thread(
            update_running, self._factory, job_id, self.model, self.owner, **values
        ):
            raise JobStopped

    def _load_spec(self, factory: sessionmaker[Session], job_id: str) -> JobSpec:
        return load_spec(factory, job_id)

    async def _render_when_ready(self, job_id: str) -> Tally:
        """Render the job once the inference service is ready; if it goes away meanwhile (a
        crash, a restart), wait for it again and go on with what is still missing."""
        attempt = 1
        while True:
            await wait_for_inference(self._synthesizer.inference, self._ready_patience_s)
            try:
                return await self._render_job(job_id)
            except InferenceError as exc:
                if not _service_down(exc) or attempt >= DOWN_RETRIES:
                    raise
                attempt += 1
                log.info(
                    "render job lost the inference service: waiting for it",
                    extra={"job_id": job_id, "reason": exc.message},
                )

    async def _render_job(self, job_id: str) -> Tally:
        """Render what is missing; how many of the job's sentences are now in the cache, and
        how many were passed over."""
        plan = await load_plan(self._factory, self._synthesizer.inference, job_id, self._load_spec)
        model_id = await self._synthesizer.model_id_for(plan.target, plan.request)
        pending, cached = await asyncio.to_thread(pending_texts, self._cache, plan, model_id)
        tally = Tally(done=cached)
        await self._progress(
            job_id,
            total=len(plan.texts),
            cached=cached,
            done=cached,
            skipped=0,
            **self._heard_values(tally),
        )
        work = batches(pending, self._batch_size)
        run = JobRun(job_id, plan, model_id, tally)

        async def lane(turn: Turn) -> None:
            for batch in work:  # shared: each lane takes the next batch, in reading order
                missing, arrived = await asyncio.to_thread(split_cached, self._cache, batch)
                tally.done += arrived
                if missing:
                    await turn.wait()
                    await self._render_texts(run, missing, turn.started)
                elif arrived:
                    await self._progress(job_id, done=tally.done)

        await staggered(await self._batches_in_flight(), lane)
        return tally

    async def _batches_in_flight(self) -> int:
        """`batches_per_replica` for each replica the inference side has (its /ready; one when
        it does not say)."""
        ready = await self._synthesizer.inference.ready()
        replicas = ready.get("replicas")
        if not isinstance(replicas, int) or replicas < 1:
            replicas = 1
        return min(replicas * self._batches_per_replica, MAX_BATCHES_IN_FLIGHT)

    async def _render_texts(
        self, run: JobRun, batch: list[Pending], started: asyncio.Event | None = None
    ) -> None:
        """Render a batch; if the service refuses a text in it, render its texts one at a
        time and skip the ones it refuses (a refusal comes before any audio of the batch)."""
        try:
            await self._render_batch(run, batch, started)
        except InferenceError as exc:
            if not refuses_text(exc):
                raise
            job_id, tally = run.job_id, run.tally
            if len(batch) > 1:
                for item in batch:
                    await self._render_texts(run, [item], started)
                return
            if started is not None:
                started.set()  # refused before any replica took it: nothing for the router to see
            tally.skipped += batch[0].sentences
            log.warning(
                "render job skipped a sentence it cannot speak",
                extra={"job_id": job_id, "text": batch[0].text[:80], "reason": exc.message},
            )
            await self._progress(job_id, skipped=tally.skipped)

    async def _render_batch(
        self, run: JobRun, batch: list[Pending], started: asyncio.Event | None = None
    ) -> None:
        """`started` is set once the service has started the batch (its start line)."""
        job_id, plan, model_id, tally = run.job_id, run.plan, run.model_id, run.tally
        texts = [item.text for item in batch]
        payload = speech_payload(plan.target, plan.request, RENDER_FORMAT, texts=texts)
        async with self._batch_events(payload) as events:
            start = await anext(events, None)
            if started is not None:
                started.set()
            if start is None or start.get("type") != "start":
                raise RenderFailed(
                    "The inference service answered a batch without its start line: check "
                    "that it is up to date (it needs POST /generate/batch), then render again."
                )
            if not keyed_as_expected(
                plan.target, model_id, start.get("model_id"), start.get("conditioning_hash")
            ):
                # The audio would not belong under the keys the reader asks for: cache nothing.
                raise RenderFailed(
                    "The inference service changed its model or this voice while rendering: "
                    "render again."
                )
            media_type = start.get("media_type") or NATIVE_FORMATS[RENDER_FORMAT]
            headers = {"x-sample-rate": str(start.get("sample_rate") or 24000)}
            remaining = set(range(len(batch)))
            async for event in events:
                kind = event.get("type")
                if kind == "item":
                    item = batch[_item_index(event, remaining)]
                    audio = _item_audio(event)
                    heard = quality.heard_of(event)
                    await asyncio.to_thread(
                        store_audio, self._cache, item.key, media_type, headers, audio, heard
                    )
                    remaining.discard(event["index"])
                    tally.done += item.sentences
                    tally.heard.add(item.text, (heard or {}).get("verification"), item.sentences)
                    await self._progress(job_id, done=tally.done, **self._heard_values(tally))
                elif kind == "error":
                    reason = event.get("message") or event.get("code") or "no reason given"
                    raise RenderFailed(
                        f"The inference service stopped rendering ({reason}). {RERENDER_HINT}"
                    )
                elif kind == "end":
                    break
            if remaining:
                raise RenderFailed(
                    f"The inference service ended a batch with {len(remaining)} sentences "
                    f"missing. {RERENDER_HINT}"
                )

    @contextlib.asynccontextmanager
    async def _batch_events(self, payload: dict[str, Any]) -> AsyncIterator[Any]:
        """POST /generate/batch, waiting while the service is busy with listeners (429)."""
        deadline = time.monotonic() + BUSY_PATIENCE_SECONDS
        while True:
            stack = contextlib.AsyncExitStack()
            try:
                events = await stack.enter_async_context(
                    self._synthesizer.inference.generate_batch(payload)
                )
            except InferenceError as exc:
                if exc.status_code != 429 or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(_retry_seconds(exc))
                continue
            async with stack:
                yield events
            return


class Turn:
    """One lane's place in `staggered`: `wait()` before sending a request, `started` set once the
    request has reached a replica (its start line)."""

    def __init__(self, before: asyncio.Event | None) -> None:
        self._before = before
        self.started = asyncio.Event()

    async def wait(self) -> None:
        """Until the lane before has had its first request started (or has ended); at once from
        this lane's second request on."""
        if self._before is not None and not self.started.is_set():
            await self._before.wait()


async def staggered(lanes: int, body: Callable[[Turn], Awaitable[None]]) -> None:
    """Run `lanes` copies of `body` together (as `all_or_none`), their first requests one after
    another: lane n sends its first once lane n-1's first has started.

    Why: Ray Serve's router sends a request to the replica with the shortest queue, read from a
    cache that is updated as each request is sent and refreshed from the replicas later. A job's
    first batches, sent together, all saw every replica idle and stacked on some while others
    stayed empty. One at a time, each batch lands before the next is routed. A lane that ends
    (nothing left, or an error) lets the next one go."""
    turns: list[Turn] = []
    for _ in range(lanes):
        turns.append(Turn(turns[-1].started if turns else None))

    async def run(turn: Turn) -> None:
        try:
            await body(turn)
        finally:
            turn.started.set()

    await all_or_none([run(turn) for turn in turns])


async def all_or_none(coroutines: list[Any]) -> None:
    """Run them together; the first error stops the others (their streams close) and is raised
    as itself, so a job fails as it would with one batch at a time."""
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _retry_seconds(exc: InferenceError) -> float:
    try:
        return min(max(float(exc.retry_after or 2), 0.5), 30.0)
    except ValueError:
        return 2.0


def _item_index(event: dict[str, Any], remaining: set[int]) -> int:
    index = event.get("index")
    if not isinstance(index, int) or index not in remaining:
        raise RenderFailed(
            f"The inference service sent an item for an unknown or repeated text ({index!r}): "
            "check its log, then render again."
        )
    return index


def _item_audio(event: dict[str, Any]) -> bytes:
    try:
        audio = base64.b64decode(event.get("audio") or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        audio = b""
    if not audio:
        raise RenderFailed(
            "The inference service sent a sentence without valid audio: check its log, "
            "then render again."
        )
    return audio
