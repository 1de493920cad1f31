"""Render jobs: render a chapter or a whole book ahead into the audio cache (docs/API.md,
"Rendering ahead"). The routes only record and cancel jobs; app.services.renders runs them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.deps import CurrentUser, SessionDep
from app.models.book import Book, Chapter
from app.models.render_job import RENDER_ACTIVE, RenderJob
from app.models.user import User
from app.models.voice import Voice
from app.schemas.renders import RenderJob as RenderJobOut
from app.schemas.renders import RenderRequest
from app.services.inference_client import InferenceError
from app.services.renders import RenderRunner, cancel_job
from app.services.speech import STOCK_PREFIX, normalize_speed, resolve_voice
from app.services.voices import CUSTOM_USER_VOICE

router = APIRouter(prefix="/api", tags=["renders"], responses={401: {}, 404: {}})

BOOK_NOT_FOUND = "No such book in your library: it may have been deleted. Reload your library."
CHAPTER_NOT_FOUND = "No such chapter in this book: reload the book's chapter list."
JOB_NOT_FOUND = "No such render job: its book may have been deleted. Reload the book."
VOICE_NOT_FOUND = "No such voice: choose one of your voices or a stock voice."
ELEVENLABS_REFUSED = (
    "ElevenLabs voices are paid per character, so they are fetched as you listen and never "
    "rendered ahead: choose one of your voices or a stock voice."
)


def _runner(request: Request) -> RenderRunner:
    return request.app.state.renders


def _owned_book(db: Session, user_id: str, book_id: str) -> Book:
    book = db.get(Book, book_id)
    if book is None or book.user_id != user_id:  # another user's book is simply not there
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=BOOK_NOT_FOUND)
    return book


def _owned_job(db: Session, user_id: str, job_id: str) -> RenderJob:
    job = db.get(RenderJob, job_id)
    if job is None or job.user_id != user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=JOB_NOT_FOUND)
    return job


def _chapter_of(db: Session, book: Book, chapter_id: str | None) -> Chapter | None:
    if chapter_id is None:
        return None
    chapter = db.get(Chapter, chapter_id)
    if chapter is None or chapter.book_id != book.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=CHAPTER_NOT_FOUND)
    return chapter


async def _render_voice(request: Request, db: Session, user: User, voice_id: str) -> str:
    """The real voice id a job renders with (never `custom_user_voice`, which names the
    default voice of the moment); refuses voices that cannot be rendered ahead."""
    own_or_stock = voice_id == CUSTOM_USER_VOICE or voice_id.startswith(STOCK_PREFIX)
    if not own_or_stock and db.get(Voice, voice_id) is None:
        if request.app.state.elevenlabs is not None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=ELEVENLABS_REFUSED)
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=VOICE_NOT_FOUND)
    # The same checks as POST /api/tts: 404 another user's voice, 409 one not ready, 400
    # custom_user_voice without a voice of one's own.
    target = resolve_voice(db, user, voice_id, None)
    if target.engine == "piper":
        await _check_stock_voice(request, target.voice_id)
    return target.voice_id


async def _check_stock_voice(request: Request, voice_id: str) -> None:
    try:
        stock = await request.app.state.inference.stock_voices()
    except InferenceError:
        return  # down: the job will say so when it runs, unless it is all cached already
    if voice_id not in {voice.get("voice_id") for voice in stock}:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"No stock voice '{voice_id}': choose one from the voice list.",
        )


def _active_twin(db: Session, job: RenderJob) -> RenderJob | None:
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


RENDER_RETRY_SECONDS = 60


def _check_queue_room(db: Session, user: User, limit: int) -> None:
    active = db.scalar(
        select(func.count())
        .select_from(RenderJob)
        .where(RenderJob.user_id == user.id, RenderJob.status.in_(RENDER_ACTIVE))
    )
    if active is not None and active >= limit:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"You already have {active} render jobs queued or running, the most one "
            "user may have: wait for one to finish or cancel one, then render again.",
            headers={"Retry-After": str(RENDER_RETRY_SECONDS)},
        )


@router.post(
    "/books/{book_id}/renders",
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"model": RenderJobOut, "description": "The same job, already queued or "
                     "running"}, 400: {}, 409: {}, 422: {},
               429: {"description": "Too many render jobs queued or running (Retry-After)"}},
)
async def create_render(
    book_id: str, body: RenderRequest, request: Request, response: Response,
    user: CurrentUser, db: SessionDep,
) -> RenderJobOut:
    """Queue a render of a chapter (`chapterId`) or of the whole book into the audio cache."""
    book = _owned_book(db, user.id, book_id)
    chapter = _chapter_of(db, book, body.chapter_id)
    voice_id = await _render_voice(request, db, user, body.voice_id)
    job = RenderJob(
        user_id=user.id, book_id=book.id, chapter_id=chapter.id if chapter else None,
        voice_id=voice_id, speed=normalize_speed(body.speed),  # 1.01 is the same job as 1.0
        total=chapter.sentence_count if chapter else book.sentence_count,
    )
    twin = _active_twin(db, job)
    if twin is not None:
        response.status_code = status.HTTP_200_OK
        return RenderJobOut.model_validate(twin)
    _check_queue_room(db, user, request.app.state.settings.max_render_jobs_per_user)
    db.add(job)
    db.commit()
    _runner(request).wake()
    return RenderJobOut.model_validate(job)


@router.get("/books/{book_id}/renders")
def list_renders(book_id: str, user: CurrentUser, db: SessionDep) -> list[RenderJobOut]:
    """The book's render jobs, newest first."""
    book = _owned_book(db, user.id, book_id)
    jobs = db.scalars(
        select(RenderJob)
        .where(RenderJob.book_id == book.id)
        .order_by(RenderJob.created_at.desc(), RenderJob.id)
    )
    return [RenderJobOut.model_validate(job) for job in jobs]


@router.get("/renders/{job_id}")
def get_render(job_id: str, user: CurrentUser, db: SessionDep) -> RenderJobOut:
    return RenderJobOut.model_validate(_owned_job(db, user.id, job_id))


@router.delete("/renders/{job_id}")
def cancel_render(
    job_id: str, request: Request, user: CurrentUser, db: SessionDep
) -> RenderJobOut:
    """Cancel a queued or running job (what it rendered stays cached); a finished job is
    returned unchanged."""
    job = cancel_job(db, _owned_job(db, user.id, job_id))
    _runner(request).cancelled(job.id)
    return RenderJobOut.model_validate(job)
