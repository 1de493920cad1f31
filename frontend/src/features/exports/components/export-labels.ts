import type { ExportFormat, ExportJob } from "../api/exports";

export const FORMAT_LABELS: Record<ExportFormat, string> = {
  m4b: "Audiobook (M4B, with chapters)",
  mp3: "MP3, one file per chapter (zip)",
  epub: "EPUB 3 read-along (highlights as it plays)",
  srt: "Subtitles, SRT (zip)",
  vtt: "Subtitles, WebVTT (zip)",
};

/** "1.5 MB", "820 KB". */
export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** "about 2 min left", "about 40 s left", or "" when the server has no estimate. */
export function etaLabel(etaSeconds: number | null | undefined): string {
  if (etaSeconds === null || etaSeconds === undefined) return "";
  if (etaSeconds >= 90) return `about ${Math.round(etaSeconds / 60)} min left`;
  return `about ${Math.max(1, Math.round(etaSeconds))} s left`;
}

/** The progress line of an active export: "Rendering: 12 of 40 sentences, about 1 min left". */
export function exportProgressLabel(
  job: Pick<ExportJob, "status" | "done" | "total" | "eta_s">,
): string {
  if (job.status === "queued") return "Waiting to start";
  if (job.done >= job.total) return "Writing the file";
  const eta = etaLabel(job.eta_s);
  return `Rendering: ${job.done} of ${job.total} sentences${eta ? `, ${eta}` : ""}`;
}

/** 0–100 for the bar's fill. */
export function exportPercent(job: Pick<ExportJob, "done" | "total">): number {
  if (job.total <= 0) return 100;
  return Math.round((Math.min(job.done, job.total) / job.total) * 100);
}
