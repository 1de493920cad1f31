import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ErrorNotice } from "@/components/feedback";
import { renderBlockedReason } from "@/features/renders/components/render-labels";
import { useVoices } from "@/features/voices/api/voices";
import type { ChapterSummary } from "@/lib/models";
import {
  bookExportsQueryKey,
  deleteExport,
  downloadUrl,
  EXPORT_POLL_MS,
  type ExportFormat,
  type ExportJob,
  fetchBookExports,
  isExportActive,
  startExport,
} from "../api/exports";
import { exportPercent, exportProgressLabel, FORMAT_LABELS, sizeLabel } from "./export-labels";
import "./export-book.css";

interface ExportBookProps {
  bookId: string;
  chapters: ChapterSummary[];
  /** The chapter on screen: "this chapter". */
  chapterIndex: number;
  /** The reader's voice and speed: the export reads as the player does. */
  voiceId: string | null;
  speed: number;
}

/** Export the book (or this chapter) to take away, and the book's exports to download. */
export function ExportBook({ bookId, chapters, chapterIndex, voiceId, speed }: ExportBookProps) {
  const client = useQueryClient();
  const voices = useVoices();
  const [format, setFormat] = useState<ExportFormat>("m4b");
  const [scope, setScope] = useState<"book" | "chapter">("book");
  const exports = useQuery({
    queryKey: bookExportsQueryKey(bookId),
    queryFn: () => fetchBookExports(bookId),
    refetchInterval: (query) =>
      query.state.data?.some(isExportActive) && !query.state.error ? EXPORT_POLL_MS : false,
  });
  const refresh = () => client.invalidateQueries({ queryKey: bookExportsQueryKey(bookId) });
  const start = useMutation({
    mutationFn: () => {
      const chapter = chapters[chapterIndex];
      return startExport(bookId, {
        format,
        voiceId: voiceId ?? "",
        speed,
        ...(scope === "chapter" && chapter ? { chapterIds: [String(chapter.id)] } : {}),
      });
    },
    onSuccess: refresh,
  });
  const remove = useMutation({ mutationFn: deleteExport, onSettled: refresh });
  const blocked = renderBlockedReason(voiceId, voices.data);
  const error = start.error ?? remove.error ?? exports.error;

  return (
    <section className="export-book" aria-label="Export">
      <h2>Export</h2>
      <div className="export-book-form">
        <label>
          <span className="small">Format</span>
          <select value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)}>
            {Object.entries(FORMAT_LABELS).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="small">Chapters</span>
          <select value={scope} onChange={(e) => setScope(e.target.value as "book" | "chapter")}>
            <option value="book">The whole book</option>
            <option value="chapter">This chapter</option>
          </select>
        </label>
        <button
          type="button"
          className="btn btn-small"
          disabled={Boolean(blocked) || start.isPending}
          title={blocked ?? undefined}
          onClick={() => start.mutate()}
        >
          Export
        </button>
      </div>
      <p className="muted small">
        {blocked ?? "In the reader's voice and speed; finished files stay here to download."}
      </p>
      {error && <ErrorNotice error={error} />}
      <ul className="export-list" aria-label="Exports">
        {(exports.data ?? []).map((job) => (
          <ExportRow key={job.id} job={job} onDelete={() => remove.mutate(job.id)} />
        ))}
      </ul>
    </section>
  );
}

function ExportRow({ job, onDelete }: { job: ExportJob; onDelete: () => void }) {
  const name = FORMAT_LABELS[job.format as ExportFormat] ?? job.format;
  const active = isExportActive(job);
  return (
    <li className="export-row" data-testid="export-job" data-status={job.status}>
      <span className="small">{name}</span>
      {active && (
        <div
          className="render-progress"
          role="progressbar"
          aria-label={exportProgressLabel(job)}
          aria-valuemin={0}
          aria-valuemax={job.total}
          aria-valuenow={job.done}
        >
          <div className="render-progress-fill" style={{ width: `${exportPercent(job)}%` }} />
        </div>
      )}
      {active && <span className="small">{exportProgressLabel(job)}</span>}
      {job.status === "failed" && (
        <span className="alert alert-error small" role="alert">
          {job.error || "The export failed; see the server's log."}
        </span>
      )}
      {job.status === "done" && job.skipped > 0 && (
        <span className="small muted">
          {job.skipped} sentence{job.skipped === 1 ? "" : "s"} had nothing to say and were left out.
        </span>
      )}
      <div className="export-row-actions">
        {job.status === "done" && (
          <a className="btn btn-small" href={downloadUrl(job.id)} download={job.file_name ?? true}>
            Download ({sizeLabel(job.bytes)})
          </a>
        )}
        <button type="button" className="btn btn-ghost btn-small" onClick={onDelete}>
          {active ? "Cancel" : "Delete"}
        </button>
      </div>
    </li>
  );
}
