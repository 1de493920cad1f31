"""Render jobs: render a chapter or a whole book ahead into the audio cache (docs/API.md,
"Rendering ahead"). The routes only parse, look up and answer; app.services.renders decides
which voices can be rendered, spots a duplicate job, queues jobs and runs them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import CurrentUser, OwnedBook, SessionDep
from app.models.book import Book, Chapter
from app.models.render_job import RenderJob
from app.schemas.renders import RenderJob as RenderJobOut
from app.schemas.renders import RenderRequest, Verification
from app.services.quality import Tally, job_summary
from app.services.renders import NewJob, RenderRunner, cancel_job, queue_job

router = APIRouter(prefix="/api", tags=["renders"], responses={401: {}, 404: {}})

CHAPTER_NOT_FOUND = "No such chapter in this book: reload the book's chapter list."
JOB_NOT_FOUND = "No such render job: its book may have been deleted. Reload the book."


def _runner(request: Request) -> RenderRunner:
    return request.app.state.renders


def _owned_job(db: Session, user_id: str, job_id: str) -> RenderJob:
    job = db.get(RenderJob, job_id)
    if job is None or job.user_id != user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=JOB_NOT_FOUND)
    return job


def job_out(db: Session, job: RenderJob) -> RenderJobOut:
    """A job as the API shows it, with its verification summary."""
    out = RenderJobOut.model_validate(job)
    summary = job_summary(db, job.book_id, job.chapter_id, Tally.from_json(job.verification_json))
    out.verification = Verification.model_validate(summary)
    return out


def _chapter_of(db: Session, book: Book, chapter_id: str | None) -> Chapter | None:
    if chapter_id is None:
        return None
    chapter = db.get(Chapter, chapter_id)
    if chapter is None or chapter.book_id != book.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=CHAPTER_NOT_FOUND)
    return chapter


@router.post(
    "/books/{book_id}/renders",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": RenderJobOut, "description": "The same job, already queued or running"},
        400: {},
        409: {},
        422: {},
        429: {"description": "Too many render jobs queued or running (Retry-After)"},
    },
)
async def create_render(
    book: OwnedBook,
    body: RenderRequest,
    request: Request,
    response: Response,
    user: CurrentUser,
    db: SessionDep,
) -> RenderJobOut:
    """Queue a render of a chapter (`chapterId`) or of the whole book into the audio cache."""
    chapter = _chapter_of(db, book, body.chapter_id)
    state = request.app.state
    job, created = await queue_job(
        db,
        NewJob(user, book, chapter, body.voice_id, body.speed),
        state.inference,
        state.elevenlabs,
        state.settings.max_render_jobs_per_user,
    )
    answer = job_out(db, job)  # as created: read before the runner may claim it
    if not created:
        response.status_code = status.HTTP_200_OK
        return answer
    _runner(request).wake()
    return answer


@router.get("/books/{book_id}/renders")
def list_renders(book: OwnedBook, db: SessionDep) -> list[RenderJobOut]:
    """The book's render jobs, newest first."""
    jobs = db.scalars(
        select(RenderJob)
        .where(RenderJob.book_id == book.id)
        .order_by(RenderJob.created_at.desc(), RenderJob.id)
    )
    return [job_out(db, job) for job in jobs]


@router.get("/renders/{job_id}")
def get_render(job_id: str, user: CurrentUser, db: SessionDep) -> RenderJobOut:
    return job_out(db, _owned_job(db, user.id, job_id))


@router.delete("/renders/{job_id}")
def cancel_render(job_id: str, request: Request, user: CurrentUser, db: SessionDep) -> RenderJobOut:
    """Cancel a queued or running job (what it rendered stays cached); a finished job is
    returned unchanged."""
    job = cancel_job(db, _owned_job(db, user.id, job_id))
    _runner(request).cancelled(job.id)
    return job_out(db, job)
