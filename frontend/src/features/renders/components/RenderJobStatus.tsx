import type { ChapterSummary } from "@/lib/models";
import { isActive, type RenderJob } from "../api/renders";
import { jobSubject, progressLabel, progressPercent, skippedNote } from "./render-labels";

interface RenderJobStatusProps {
  job: RenderJob;
  chapters: Pick<ChapterSummary, "id">[];
  onCancel: () => void;
  cancelling: boolean;
}

/** A job's progress while it is active, then how it ended. */
export function RenderJobStatus({ job, chapters, onCancel, cancelling }: RenderJobStatusProps) {
  const subject = jobSubject(job, chapters);
  if (isActive(job)) {
    const label = progressLabel(job, chapters);
    return (
      <div className="render-job" data-testid="render-job" data-status={job.status}>
        <div
          className="render-progress"
          role="progressbar"
          aria-label={label}
          aria-valuemin={0}
          aria-valuemax={job.total}
          aria-valuenow={job.done}
        >
          <div className="render-progress-fill" style={{ width: `${progressPercent(job)}%` }} />
        </div>
        <div className="render-job-row">
          <span className="small">{label}</span>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={onCancel}
            disabled={cancelling}
          >
            Cancel
          </button>
        </div>
      </div>
    );
  }
  if (job.status === "done") {
    const skipped = skippedNote(job);
    return (
      <p
        className={`alert ${skipped ? "alert-warning" : "alert-success"} render-job`}
        role="status"
        data-testid="render-job"
        data-status="done"
      >
        Ready: {subject} plays from this computer's cache.
        {skipped && <span data-testid="render-skipped"> {skipped}</span>}
      </p>
    );
  }
  if (job.status === "failed") {
    return (
      <p
        className="alert alert-error render-job"
        role="alert"
        data-testid="render-job"
        data-status="failed"
      >
        Couldn't prepare {subject}: {job.error || "the server gave no reason; see its log."}
      </p>
    );
  }
  return (
    <p className="muted small render-job" data-testid="render-job" data-status={job.status}>
      Stopped preparing {subject}; {job.done} of {job.total} sentences are ready.
    </p>
  );
}
