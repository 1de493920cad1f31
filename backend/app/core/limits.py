"""Per-user limits on concurrent work, so that one user (or one runaway client) cannot take
the server from the others; and the one table of upload sizes (`UPLOADS`), which both the
body cap (app/api/body_limit.py, the first gate) and the streamed upload reader
(app/services/uploads.py) take their limits from. Other request body caps live in
app/api/body_limit.py."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import affected_rows
from app.core.leases import left_by_earlier_process
from app.models.user import OpenStream, User, new_id

log = logging.getLogger("ownvoice.limits")

MB = 1024 * 1024
MULTIPART_OVERHEAD = MB  # generous room for headers, boundaries and text fields


@dataclass(frozen=True)
class UploadLimit:
    """A route whose body is an upload: the size of each file (from the settings), how many
    files, and the advice its 413 gives."""

    file_bytes: Callable[[Settings], int]
    max_files: int
    advice: str

    def limit(self, settings: Settings) -> int:
        """All the files together."""
        return self.file_bytes(settings) * self.max_files

    def cap(self, settings: Settings) -> int:
        """The whole body: the files and the form around them."""
        return self.limit(settings) + MULTIPART_OVERHEAD


# POST routes whose bodies are uploads (every other body is JSON-sized).
UPLOADS = {
    "/api/voice/upload": UploadLimit(
        lambda s: s.max_voice_upload_bytes, 1, "send a shorter recording"
    ),
    # ElevenLabs' voices/add takes several samples; the longest one is used.
    "/v1/voices/add": UploadLimit(lambda s: s.max_voice_upload_bytes, 5, "send shorter recordings"),
    "/api/books": UploadLimit(lambda s: s.max_book_upload_bytes, 1, "upload a smaller file"),
}


# A stream counted in this process only: its slot id is this prefix and the user's id.
LOCAL_SLOT = "local:"


class StreamSlot:
    """One open audio stream; `release()` gives the slot back (at most once)."""

    def __init__(self, limiter: StreamLimiter, slot_id: str) -> None:
        self._limiter, self._id, self._released = limiter, slot_id, False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._release(self._id)

    async def arelease(self) -> None:
        """`release()` off the event loop (it writes to the database). A cancelled caller
        still releases: the thread runs to the end."""
        if not self._released:
            self._released = True
            await asyncio.to_thread(self._limiter._release, self._id)


class StreamLimiter:
    """Counts each user's open audio streams: at most `per_user` at once, across every app
    server sharing the database.

    Each open stream is a row in `open_streams` naming this process (`owner`, made by
    app.core.leases.new_owner) and an expiry `lease_s` ahead. `renew()` (the app calls it every
    third of `lease_s`) pushes on the expiry of the streams this process still holds, in one
    statement, and deletes its other rows: a release that could not reach the database is
    finished there. A row whose app server died stops counting when it expires; `take_back()`
    at start removes at once the rows of an earlier process of the same replica. A slot is
    taken by one conditional INSERT under a lock on the user's row (FOR UPDATE on PostgreSQL;
    SQLite has one writer), so racing app servers cannot both take the last one. The methods
    touch the database: call them off the event loop (`aacquire`, `StreamSlot.arelease`).
    `clock` is wall-clock seconds (app servers on several machines need their clocks in step,
    NTP).

    When the database cannot be written (a full disk: SQLite cannot even delete then; or a
    moment's outage), a stream is counted in this process only: against the same limit, with
    the user's streams this process already holds counted too, so that cached audio keeps
    playing and one user still cannot open streams without end. (Each app server then counts
    its own: during an outage a user may have `per_user` streams on each.)
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        per_user: int,
        owner: str,
        lease_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_user = per_user
        self.owner = owner
        self.lease_s = lease_s
        self._factory = factory
        self._clock = clock
        self._lock = threading.Lock()
        self._local: Counter[str] = Counter()  # streams counted here only (see above)
        self._held: dict[str, str] = {}  # this process's rows in open_streams: id -> user id
        self._releasing: set[asyncio.Future[None]] = set()  # kept to the end (see aacquire)

    def acquire(self, user_id: str) -> StreamSlot | None:
        """A slot for a new stream, or None when the user already has `per_user` open."""
        try:
            return self._acquire_shared(user_id)
        except SQLAlchemyError as exc:
            log.warning(
                "cannot count an open stream in the database: counting it here only",
                extra={"reason": str(exc).splitlines()[0][:200]},
            )
        with self._lock:
            held = sum(1 for holder in self._held.values() if holder == user_id)
            if self._local[user_id] + held >= self.per_user:
                return None
            self._local[user_id] += 1
        return StreamSlot(self, f"{LOCAL_SLOT}{user_id}")

    async def aacquire(self, user_id: str) -> StreamSlot | None:
        """`acquire()` off the event loop. A caller cancelled while the slot is being taken
        (its client went away) gives the slot back once it is taken."""
        taking = asyncio.ensure_future(asyncio.to_thread(self.acquire, user_id))
        try:
            return await asyncio.shield(taking)
        except asyncio.CancelledError:
            taking.add_done_callback(self._give_back_unclaimed)
            raise

    def _give_back_unclaimed(self, taking: asyncio.Future[StreamSlot | None]) -> None:
        if taking.cancelled() or taking.exception() is not None:
            return
        slot = taking.result()
        if slot is not None:
            background = asyncio.ensure_future(slot.arelease())
            self._releasing.add(background)
            background.add_done_callback(self._releasing.discard)

    def _acquire_shared(self, user_id: str) -> StreamSlot | None:
        now = self._clock()
        slot_id = new_id()
        with self._lock:  # held before the row exists, so that renew() never deletes it
            self._held[slot_id] = user_id
        taken = None
        try:
            with self._factory() as db:
                db.execute(select(User.id).where(User.id == user_id).with_for_update())
                db.execute(
                    delete(OpenStream).where(
                        OpenStream.user_id == user_id, OpenStream.expires_at < now
                    )
                )
                counted = (
                    select(func.count())
                    .select_from(OpenStream)
                    .where(OpenStream.user_id == user_id)
                    .scalar_subquery()
                )
                taken = db.execute(
                    insert(OpenStream)
                    .from_select(
                        ["id", "user_id", "owner", "expires_at"],
                        select(
                            literal(slot_id),
                            literal(user_id),
                            literal(self.owner),
                            literal(now + self.lease_s),
                        ).where(counted < self.per_user),
                    )
                    .returning(OpenStream.id)  # (psycopg gives INSERT ... SELECT no rowcount)
                ).scalar()
                db.commit()
        finally:
            if taken is None:
                with self._lock:
                    self._held.pop(slot_id, None)
        return StreamSlot(self, slot_id) if taken is not None else None

    def open_streams(self, user_id: str) -> int:
        with self._factory() as db:
            return (
                db.scalar(
                    select(func.count())
                    .select_from(OpenStream)
                    .where(OpenStream.user_id == user_id, OpenStream.expires_at >= self._clock())
                )
                or 0
            )

    def renew(self) -> int:
        """Push on the expiry of every stream this process is sending, and remove its rows of
        streams that ended (their release could not reach the database); how many it sends."""
        with self._lock:
            held = list(self._held)
        mine = OpenStream.owner == self.owner
        with self._factory() as db:
            db.execute(delete(OpenStream).where(mine, OpenStream.id.not_in(held)))
            renewed = db.execute(
                update(OpenStream)
                .where(mine, OpenStream.id.in_(held))
                .values(expires_at=self._clock() + self.lease_s)
            )
            db.commit()
            return affected_rows(renewed)

    def take_back(self, replica: str) -> int:
        """Remove the rows of an earlier process of this replica: a crash left them, and its
        streams ended with it. (`close()` removes this process's own, at a normal stop.)"""
        if not replica:
            return 0
        with self._factory() as db:
            removed = db.execute(
                delete(OpenStream).where(
                    left_by_earlier_process(OpenStream.owner, replica, self.owner)
                )
            )
            db.commit()
            return affected_rows(removed)

    def close(self) -> None:
        """The app server stops: its streams are over."""
        with self._factory() as db:
            db.execute(delete(OpenStream).where(OpenStream.owner == self.owner))
            db.commit()

    def _release(self, slot_id: str) -> None:
        with self._lock:
            if slot_id.startswith(LOCAL_SLOT):
                user_id = slot_id[len(LOCAL_SLOT) :]
                self._local[user_id] -= 1
                if self._local[user_id] <= 0:
                    del self._local[user_id]
                return
            self._held.pop(slot_id, None)  # from now on, renew() deletes the row if this cannot
        try:
            self._release_shared(slot_id)
        except SQLAlchemyError as exc:
            log.warning(
                "cannot remove an open stream from the database: the next renewal will",
                extra={"reason": str(exc).splitlines()[0][:200]},
            )

    def _release_shared(self, slot_id: str) -> None:
        with self._factory() as db:
            db.execute(delete(OpenStream).where(OpenStream.id == slot_id))
            db.commit()
