import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { ErrorNotice } from "@/components/feedback";
import {
  bookQualityQueryKey,
  fetchBookQuality,
  qualityQueryKey,
} from "@/features/quality/api/quality";
import { SPEEDS } from "@/features/settings/hooks/use-reader-prefs";
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
import {
  type ChapterFailures,
  exportPercent,
  exportProgressLabel,
  exportVoiceOptions,
  FORMAT_HINTS,
  FORMAT_LABELS,
  failedByChapter,
  sizeLabel,
} from "./export-labels";
import "./export-book.css";

interface ExportBookProps {
  bookId: string;
  chapters: ChapterSummary[];
  /** The chapter on screen: "this chapter". */
  chapterIndex: number;
  /** The reader's voice and speed: what an export reads in unless another is chosen. */
  voiceId: string | null;
  speed: number;
  /** Open a chapter with its misread sentences listed (in this voice and speed). */
  onShowFailed: (chapterIndex: number, voiceId: string, speed: number) => void;
}

/** Export the book (or this chapter) to take away, and the book's exports to download. */
export function ExportBook({
  bookId,
  chapters,
  chapterIndex,
  voiceId,
  speed,
  onShowFailed,
}: ExportBookProps) {
  const client = useQueryClient();
  const voices = useVoices();
  const [format, setFormat] = useState<ExportFormat>("m4b");
  const [scope, setScope] = useState<"book" | "chapter">("book");
  const [voiceChoice, setVoiceChoice] = useState<string | null>(null);
  const [speedChoice, setSpeedChoice] = useState<number | null>(null);
  const { options, initial } = exportVoiceOptions(voices.data, voiceId);
  const exportVoice = voiceChoice ?? initial;
  const exportSpeed = speedChoice ?? speed;
  const chapter = chapters[chapterIndex];
  const exports = useQuery({
    queryKey: bookExportsQueryKey(bookId),
    queryFn: () => fetchBookExports(bookId),
    refetchInterval: (query) =>
      query.state.data?.some(isExportActive) && !query.state.error ? EXPORT_POLL_MS : false,
  });
  const quality = useQuery({
    queryKey: qualityQueryKey(bookId, exportVoice ?? "", exportSpeed),
    queryFn: () => fetchBookQuality(bookId, exportVoice ?? "", exportSpeed),
    enabled: exportVoice !== null,
    staleTime: 30_000,
    retry: false,
  });
  // An export that ends has rendered and heard sentences: the quality report may have changed.
  const active = (exports.data ?? []).filter(isExportActive).length;
  const wasActive = useRef(active);
  useEffect(() => {
    if (active < wasActive.current)
      void client.invalidateQueries({ queryKey: bookQualityQueryKey(bookId) });
    wasActive.current = active;
  }, [active, client, bookId]);
  const failures = failedByChapter(
    quality.data,
    chapters,
    scope === "chapter" && chapter ? new Set([String(chapter.id)]) : null,
  );
  const refresh = () => client.invalidateQueries({ queryKey: bookExportsQueryKey(bookId) });
  const start = useMutation({
    mutationFn: () =>
      startExport(bookId, {
        format,
        voiceId: exportVoice ?? "",
        speed: exportSpeed,
        ...(scope === "chapter" && chapter ? { chapterIds: [String(chapter.id)] } : {}),
      }),
    onSuccess: refresh,
  });
  const remove = useMutation({ mutationFn: deleteExport, onSettled: refresh });
  const blocked =
    exportVoice === null ? "Choose a voice first: record one, or pick a stock voice." : null;
  const error = start.error ?? remove.error ?? exports.error;

  return (
    <section className="export-book" aria-label="Export">
      <h2>Export</h2>
      <div className="export-book-form">
        <label className="export-book-wide">
          <span className="small">Format</span>
          <select value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)}>
            {Object.entries(FORMAT_LABELS).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label className="export-book-wide">
          <span className="small">Voice</span>
          <select
            value={exportVoice ?? ""}
            disabled={options.length === 0}
            onChange={(e) => setVoiceChoice(e.target.value)}
          >
            {(["My voices", "Stock voices"] as const).map((group) => {
              const members = options.filter((o) => o.group === group);
              if (members.length === 0) return null;
              return (
                <optgroup key={group} label={group}>
                  {members.map((o) => (
                    <option key={o.value} value={o.value}>
                      {o.label}
                    </option>
                  ))}
                </optgroup>
              );
            })}
          </select>
        </label>
        <label>
          <span className="small">Speed</span>
          <select value={exportSpeed} onChange={(e) => setSpeedChoice(Number(e.target.value))}>
            {SPEEDS.map((value) => (
              <option key={value} value={value}>
                {value}×
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
        {blocked ?? `${FORMAT_HINTS[format]} Finished files stay here to download.`}
      </p>
      {exportVoice !== null && failures.length > 0 && (
        <FailedNote
          failures={failures}
          onShow={(index) => onShowFailed(index, exportVoice, exportSpeed)}
        />
      )}
      {error && <ErrorNotice error={error} />}
      <ul className="export-list" aria-label="Exports">
        {(exports.data ?? []).map((job) => (
          <ExportRow key={job.id} job={job} onDelete={() => remove.mutate(job.id)} />
        ))}
      </ul>
    </section>
  );
}

/** Sentences speech recognition did not hear right in this voice: where they are. */
function FailedNote({
  failures,
  onShow,
}: {
  failures: ChapterFailures[];
  onShow: (chapterIndex: number) => void;
}) {
  const total = failures.reduce((sum, f) => sum + f.count, 0);
  return (
    <div className="export-quality small" role="note" data-testid="export-quality-note">
      <p>
        {total === 1 ? "1 sentence" : `${total} sentences`} may be misread in this voice: the export
        keeps their best take. Listen to them, or regenerate them, first:
      </p>
      <ul>
        {failures.map((f) => (
          <li key={f.index}>
            <button type="button" className="btn btn-link" onClick={() => onShow(f.index)}>
              {f.title} ({f.count})
            </button>
          </li>
        ))}
      </ul>
    </div>
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
