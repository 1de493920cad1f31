"""Export jobs: a book as M4B, MP3s, subtitles or an EPUB 3 read-along (docs/API.md,
"Exports"). The routes parse, look up and answer; app.services.exports.jobs queues and runs
the jobs and owns their files."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import CurrentUser, OwnedBook, SessionDep
from app.models.export_job import ExportJob
from app.schemas.exports import ExportJob as ExportJobOut
from app.schemas.exports import ExportRequest
from app.services.exports.jobs import (
    ExportRunner,
    NewExport,
    export_dir,
    queue_export,
    remove_export_files,
)
from app.services.renders import cancel_job

router = APIRouter(prefix="/api", tags=["exports"], responses={401: {}, 404: {}})

JOB_NOT_FOUND = "No such export: it was deleted, or its book was. Reload the book's exports."
NOT_READY = "This export is not finished ({}): wait until its status is done, then download it."
MEDIA_TYPES = {
    ".m4b": "audio/mp4",
    ".zip": "application/zip",
    ".epub": "application/epub+zip",
}


def _runner(request: Request) -> ExportRunner:
    return request.app.state.exports


def _owned_job(db: Session, user_id: str, job_id: str) -> ExportJob:
    job = db.get(ExportJob, job_id)
    if job is None or job.user_id != user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=JOB_NOT_FOUND)
    return job


@router.post(
    "/books/{book_id}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    responses={400: {}, 409: {}, 422: {}, 429: {}, 507: {}},
)
async def create_export(
    book: OwnedBook, body: ExportRequest, request: Request, user: CurrentUser, db: SessionDep
) -> ExportJobOut:
    """Queue an export of the book (or of `chapterIds`) in one voice; 507 when its estimated
    size would pass the user's export quota or leave the disk without its reserve."""
    state = request.app.state
    job = await queue_export(
        db,
        NewExport(user, book, body.format, body.voice_id, body.speed, body.chapter_ids),
        state.inference,
        state.elevenlabs,
        state.settings.max_render_jobs_per_user,
        _runner(request).room,
    )
    answer = ExportJobOut.model_validate(job)  # as created: read before the runner claims it
    _runner(request).wake()
    return answer


@router.get("/books/{book_id}/exports")
def list_exports(book: OwnedBook, db: SessionDep) -> list[ExportJobOut]:
    """The book's exports, newest first."""
    jobs = db.scalars(
        select(ExportJob)
        .where(ExportJob.book_id == book.id)
        .order_by(ExportJob.created_at.desc(), ExportJob.id)
    )
    return [ExportJobOut.model_validate(job) for job in jobs]


@router.get("/exports/{job_id}")
def get_export(job_id: str, user: CurrentUser, db: SessionDep) -> ExportJobOut:
    return ExportJobOut.model_validate(_owned_job(db, user.id, job_id))


@router.get(
    "/exports/{job_id}/download",
    response_class=FileResponse,
    responses={206: {"description": "The range asked for"}, 409: {}},
)
def download_export(
    job_id: str, request: Request, user: CurrentUser, db: SessionDep
) -> FileResponse:
    """The finished file; HTTP Range requests resume an interrupted download."""
    job = _owned_job(db, user.id, job_id)
    if job.status != "done" or not job.file_name:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=NOT_READY.format(job.status))
    path = export_dir(_runner(request).root, job.id) / job.file_name
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=JOB_NOT_FOUND)
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix), filename=job.file_name)


@router.delete("/exports/{job_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_export(job_id: str, request: Request, user: CurrentUser, db: SessionDep) -> None:
    """Cancel the export if it is queued or running, remove its files, and forget it."""
    job = cancel_job(db, _owned_job(db, user.id, job_id))
    runner = _runner(request)
    runner.cancelled(job.id)
    remove_export_files(runner.root, job.id)
    db.delete(job)
    db.commit()
