"""Export jobs: a book, or some of its chapters, as M4B, MP3s, subtitles or an EPUB 3
read-along, in one voice.

An export runs like a render job, on the same machinery (app.services.renders): the same
claim/cancel rules in the database, the same batched path through the inference service for
the sentences the audio cache lacks (a listener still goes first), and then it lays the
cached sentences out (assemble.py) and writes the file. Each job writes only inside its own
directory, `<data dir>/exports/<job id>/`, through temporary files published by an fsynced
rename; cancelling or deleting a job removes that directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.files import DISK_FULL_MESSAGE, is_disk_full
from app.models.book import Book, Chapter, Sentence
from app.models.export_job import ExportJob
from app.models.render_job import RENDER_RUNNING
from app.models.user import User
from app.models.voice import Voice
from app.services.elevenlabs import ElevenLabsClient
from app.services.errors import InsufficientStorage, InvalidInput, NotFound
from app.services.exports import room, writers
from app.services.exports.assemble import SentenceAudio, lay_out
from app.services.exports.audio import BookTags
from app.services.inference_client import InferenceClient, InferenceError
from app.services.renders import (
    JobSpec,
    JobStopped,
    Plan,
    RenderFailed,
    RenderRunner,
    check_queue_room,
    job_spec,
    load_plan,
    normalize_speed,
    render_voice,
)
from app.services.speech import Synthesizer, VoiceTarget, speech_cache_key

log = logging.getLogger("ownvoice.exports")

CHAPTER_NOT_FOUND = "No such chapter in this book: {}. Reload the book's chapter list."
NOT_AN_EPUB = (
    "Only a book imported from an EPUB file can be exported as an EPUB read-along: export "
    "this one as m4b, mp3, srt or vtt."
)
NOTHING_TO_SAY = "These chapters have no text to speak: choose other chapters, then export."
EVICTED = (
    "Some sentences left the audio cache before they were written (the cache is too small "
    "for this export): raise OWNVOICE_AUDIO_CACHE_MAX_BYTES or export fewer chapters, then "
    "export again."
)


def export_dir(root: Path, job_id: str) -> Path:
    return root / job_id


def remove_export_files(root: Path, job_id: str) -> None:
    shutil.rmtree(export_dir(root, job_id), ignore_errors=True)


def remove_own_export_files(
    factory: sessionmaker[Session], root: Path, job_id: str, owner: str
) -> bool:
    """A try that ended without a file removes what it wrote, unless another runner has the
    job now (this one lost its lease while stalled): those files are the other runner's.
    Whether it removed them."""
    with factory() as db:
        job = db.get(ExportJob, job_id)
        if (
            job is not None
            and job.status == RENDER_RUNNING
            and job.lease_owner not in (None, owner)
        ):
            return False
    remove_export_files(root, job_id)
    return True


def book_export_ids(db: Session, book_id: str) -> list[str]:
    """The book's exports, whose files go when the book does (its rows go by cascade)."""
    return list(db.scalars(select(ExportJob.id).where(ExportJob.book_id == book_id)))


def remove_orphan_exports(factory: sessionmaker[Session], root: Path) -> int:
    """At start: the folders of exports that no longer exist (their book or user was deleted,
    or the app server stopped before it removed them); how many were removed."""
    if not root.is_dir():
        return 0
    with factory() as db:
        known = set(db.scalars(select(ExportJob.id)))
    orphans = [folder for folder in root.iterdir() if folder.is_dir() and folder.name not in known]
    for folder in orphans:
        shutil.rmtree(folder, ignore_errors=True)
    return len(orphans)


@dataclass
class NewExport:
    user: User
    book: Book
    format: str
    voice_id: str
    speed: float
    chapter_ids: list[str] | None  # None: every chapter


def _chosen_chapters(db: Session, book: Book, chapter_ids: list[str] | None) -> str | None:
    """The chosen chapters as stored (ids in book order); 404 for one not in this book."""
    if chapter_ids is None:
        return None
    found = {c.id: c for c in book.chapters}
    unknown = [cid for cid in chapter_ids if cid not in found]
    if unknown:
        raise NotFound(CHAPTER_NOT_FOUND.format(unknown[0][:64]))
    wanted = set(chapter_ids)
    return ",".join(c.id for c in book.chapters if c.id in wanted)


async def queue_export(
    db: Session,
    new: NewExport,
    inference: InferenceClient,
    elevenlabs: ElevenLabsClient | None,
    max_jobs: int,
    space: room.Room,
) -> ExportJob:
    """Queue an export: the voice routed as for render jobs (never ElevenLabs), the chapters
    checked, the user's queue room checked, then its quota and the disk (room.py)."""
    if new.format == "epub" and new.book.source_format != "epub":
        raise InvalidInput(NOT_AN_EPUB)
    chapters = _chosen_chapters(db, new.book, new.chapter_ids)
    voice_id = await render_voice(db, new.user, new.voice_id, inference, elevenlabs)
    check_queue_room(db, new.user, max_jobs, ExportJob, "export")
    chosen = set(chapters.split(",")) if chapters else None
    total = sum(c.sentence_count for c in new.book.chapters if chosen is None or c.id in chosen)
    job = ExportJob(
        user_id=new.user.id,
        book_id=new.book.id,
        format=new.format,
        voice_id=voice_id,
        speed=normalize_speed(new.speed),
        chapter_ids=chapters,
        total=total,
    )
    room.check_new_export(db, job, space)
    db.add(job)
    db.commit()
    return job


# --- what a job speaks ----------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    chapter_id: str
    sentence_id: str
    paragraph_id: str
    text: str


def _chapters(db: Session, job: ExportJob) -> list[Chapter]:
    book = db.get(Book, job.book_id)
    if book is None:
        raise JobStopped
    wanted = set(job.chapter_ids.split(",")) if job.chapter_ids else None
    return [c for c in book.chapters if wanted is None or c.id in wanted]


def _rows(db: Session, job: ExportJob) -> list[Row]:
    chapter_ids = [c.id for c in _chapters(db, job)]
    query = (
        select(Sentence.chapter_id, Sentence.id, Sentence.paragraph_id, Sentence.text)
        .where(Sentence.book_id == job.book_id, Sentence.chapter_id.in_(chapter_ids))
        .order_by(Sentence.position)
    )
    return [Row(*row) for row in db.execute(query)]


def load_export_spec(factory: sessionmaker[Session], job_id: str) -> JobSpec:
    with factory() as db:
        job = db.get(ExportJob, job_id)
        book = db.get(Book, job.book_id) if job else None
        user = db.get(User, job.user_id) if job else None
        if job is None or book is None or user is None:
            raise JobStopped
        return job_spec(db, user, book, job, [row.text for row in _rows(db, job)])


# --- writing --------------------------------------------------------------------------


@dataclass
class Source:
    """Everything the writer needs, read from the database before it starts."""

    job_id: str
    format: str
    titles: dict[str, str]  # chapter id → title, in book order
    rows: list[Row]
    tags: BookTags
    original: Path | None  # the book's EPUB, for the read-along and the tags


def _file_stem(title: str) -> str:
    stem = re.sub(r"[^\w\- ]+", "", title, flags=re.UNICODE).strip()
    return re.sub(r"\s+", " ", stem)[:80] or "book"


class ExportRunner(RenderRunner):
    """Runs export jobs one at a time: render what the cache lacks, then write the file."""

    model = ExportJob
    kind = "export"

    def __init__(
        self,
        factory: sessionmaker[Session],
        synthesizer: Synthesizer,
        batch_size: int,
        space: room.Room,
        ready_patience_s: float = 600.0,
        lease_s: float = 30.0,
        replica: str = "",
        batches_per_replica: int = 1,
    ) -> None:
        super().__init__(
            factory,
            synthesizer,
            batch_size,
            ready_patience_s,
            lease_s,
            replica,
            batches_per_replica,
        )
        self.room = space
        self.root = space.root
        self._books_root = space.books_root
        self._pauses = space.pauses
        self._stops: dict[str, threading.Event] = {}

    def start(self) -> None:
        removed = remove_orphan_exports(self._factory, self.root)
        if removed:
            log.info("removed the files of deleted exports", extra={"count": removed})
        super().start()

    def _load_spec(self, factory: sessionmaker[Session], job_id: str) -> JobSpec:
        return load_export_spec(factory, job_id)

    def cancelled(self, job_id: str) -> None:
        """Also stops the writer thread, which checks between chunks of audio."""
        stop = self._stops.get(job_id)
        if stop is not None:
            stop.set()
        super().cancelled(job_id)

    async def _work(self, job_id: str) -> dict[str, Any]:
        stop = self._stops.setdefault(job_id, threading.Event())
        try:
            await asyncio.to_thread(remove_export_files, self.root, job_id)  # an earlier try's
            await asyncio.to_thread(self._check_disk, job_id)  # it may have filled since
            tally = await self._render_when_ready(job_id)
            plan = await load_plan(
                self._factory, self._synthesizer.inference, job_id, self._load_spec
            )
            model_id = await self._synthesizer.model_id_for(plan.target, plan.request)
            narrator = await self._narrator(plan.target)
            source = await asyncio.to_thread(self._source, job_id, narrator)
            writing = asyncio.ensure_future(
                asyncio.to_thread(self._write, source, plan, model_id, tally.skipped, stop)
            )
            try:
                name = await asyncio.shield(writing)
            except asyncio.CancelledError:  # a thread cannot be cancelled: tell it, wait for it
                stop.set()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await writing
                raise
            size = (export_dir(self.root, job_id) / name).stat().st_size
            return {"done": tally.done, "skipped": tally.skipped, "file_name": name, "bytes": size}
        except BaseException:
            await asyncio.to_thread(
                remove_own_export_files, self._factory, self.root, job_id, self.owner
            )
            raise
        finally:
            self._stops.pop(job_id, None)

    def _check_disk(self, job_id: str) -> None:
        """Before rendering anything: room on the disk for this job (a queued one, or one
        resumed after a restart) as when it was queued."""
        with self._factory() as db:
            job = db.get(ExportJob, job_id)
            if job is None:
                raise JobStopped
            size = room.job_estimate(db, job, self._pauses, self._books_root)
        try:
            room.check_disk(size.peak, self.root, self.room.reserve)
        except InsufficientStorage as exc:
            raise RenderFailed(exc.message) from exc

    async def _finish(self, job_id: str, status: str, **values: Any) -> None:
        if values.get("error"):  # the render path's advice, for an export
            values["error"] = values["error"].replace("render again", "export again")
        await super()._finish(job_id, status, **values)

    async def _narrator(self, target: VoiceTarget) -> str:
        if target.engine == "xtts":
            with self._factory() as db:
                voice = db.get(Voice, target.voice_id)
                return voice.name if voice else target.voice_id
        try:
            listing = await self._synthesizer.inference.stock_voices()
        except InferenceError:
            listing = []
        names = {v.get("voice_id"): v.get("name") for v in listing}
        return str(names.get(target.voice_id) or target.voice_id)

    def _source(self, job_id: str, narrator: str) -> Source:
        with self._factory() as db:
            job = db.get(ExportJob, job_id)
            book = db.get(Book, job.book_id) if job else None
            if job is None or book is None:
                raise JobStopped
            original = self._books_root / book.original_file if book.original_file else None
            tags = writers.book_tags(book, narrator, original)
            titles = {c.id: c.title for c in _chapters(db, job)}
            return Source(job_id, job.format, titles, _rows(db, job), tags, original)

    def _write(
        self,
        source: Source,
        plan: Plan,
        model_id: str | None,
        skipped: int,
        stop_event: threading.Event,
    ) -> str:
        """Lay the chapters out from the cache and write the export; its file name."""

        def stop() -> None:
            if stop_event.is_set():
                raise JobStopped

        timelines = []
        for chapter_id, title in source.titles.items():
            sentences = [
                self._sentence_audio(plan, model_id, r)
                for r in source.rows
                if r.chapter_id == chapter_id
            ]
            timelines.append(lay_out(chapter_id, title, sentences, self._pauses))
        missing = len(source.rows) - sum(len(t.sentences) for t in timelines)
        if missing > skipped:  # more than the sentences with nothing to say
            raise RenderFailed(EVICTED)
        timelines = [t for t in timelines if t.sentences]  # a cover page has nothing to hear
        if not timelines:
            raise RenderFailed(NOTHING_TO_SAY)
        directory = export_dir(self.root, source.job_id)
        directory.mkdir(parents=True, exist_ok=True)
        stem = _file_stem(source.tags.title)
        try:
            return writers.write(
                source.format, timelines, source.tags, directory, stem, source.original, stop
            )
        except OSError as exc:
            if is_disk_full(exc):
                raise RenderFailed(DISK_FULL_MESSAGE) from exc
            raise

    def _sentence_audio(self, plan: Plan, model_id: str | None, row: Row) -> SentenceAudio:
        """The row's cached PCM and, once it was heard, its word timings (None: not cached)."""
        key = speech_cache_key(plan.target, replace(plan.request, text=row.text), model_id)
        entry = self._cache.get(key)
        return SentenceAudio(
            row.sentence_id,
            row.text,
            row.paragraph_id,
            entry.path if entry is not None else None,
            entry.words if entry is not None else None,
        )
