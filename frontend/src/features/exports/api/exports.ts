import { api } from "@/lib/api-client";
import type { components } from "@/lib/api-types";
import { env } from "@/lib/env";

type Schemas = components["schemas"];

/** An export of a book (or some chapters) as M4B, MP3s, subtitles or an EPUB read-along. */
export type ExportJob = Schemas["ExportJob"];
export type ExportRequest = Schemas["ExportRequest"];
export type ExportFormat = ExportRequest["format"];

/** How often the list is looked at while an export is queued or running. */
export const EXPORT_POLL_MS = 1500;

export const bookExportsQueryKey = (bookId: string) => ["exports", bookId] as const;

const bookExportsPath = (bookId: string) => `/api/books/${encodeURIComponent(bookId)}/exports`;
const exportPath = (jobId: string) => `/api/exports/${encodeURIComponent(jobId)}`;

export function isExportActive(job: Pick<ExportJob, "status">): boolean {
  return job.status === "queued" || job.status === "running";
}

export function startExport(bookId: string, request: ExportRequest): Promise<ExportJob> {
  return api.json<ExportJob>(bookExportsPath(bookId), { json: request });
}

/** The book's exports, newest first. */
export function fetchBookExports(bookId: string): Promise<ExportJob[]> {
  return api.json<ExportJob[]>(bookExportsPath(bookId));
}

/** Cancels a queued or running export, removes its file and forgets it. */
export function deleteExport(jobId: string): Promise<void> {
  return api.json<void>(exportPath(jobId), { method: "DELETE" });
}

/** Where the browser downloads a finished export (the session cookie goes with it). */
export function downloadUrl(jobId: string): string {
  return `${env.apiBaseUrl}${exportPath(jobId)}/download`;
}
