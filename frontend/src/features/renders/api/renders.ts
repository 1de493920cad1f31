import { api } from "@/lib/api-client";
import type { components } from "@/lib/api-types";

type Schemas = components["schemas"];

/**
 * A "render ahead" job: fills the server's audio cache for a chapter (or, with
 * chapter_id null, the whole book). `done` counts sentences in the cache now.
 */
export type RenderJob = Schemas["RenderJob"];
export type RenderStatus = RenderJob["status"];
/** No `chapterId`: the whole book. */
export type RenderRequest = Schemas["RenderRequest"];

/** How often an active job is looked at: progress moves a sentence at a time. */
export const RENDER_POLL_MS = 1500;

export const renderJobQueryKey = (jobId: string) => ["render", jobId] as const;
export const bookRendersQueryKey = (bookId: string) => ["renders", bookId] as const;

const bookRendersPath = (bookId: string) => `/api/books/${encodeURIComponent(bookId)}/renders`;
const renderPath = (jobId: string) => `/api/renders/${encodeURIComponent(jobId)}`;

export function isActive(job: Pick<RenderJob, "status"> | undefined): boolean {
  return job?.status === "queued" || job?.status === "running";
}

/** Starts a job; an identical job still queued or running is answered instead. */
export function startRender(bookId: string, request: RenderRequest): Promise<RenderJob> {
  return api.json<RenderJob>(bookRendersPath(bookId), { json: request });
}

/** The book's jobs, newest first. */
export function fetchBookRenders(bookId: string): Promise<RenderJob[]> {
  return api.json<RenderJob[]>(bookRendersPath(bookId));
}

export function fetchRenderJob(jobId: string): Promise<RenderJob> {
  return api.json<RenderJob>(renderPath(jobId));
}

/** Cancels a queued or running job; a finished one comes back unchanged. */
export function cancelRender(jobId: string): Promise<RenderJob> {
  return api.json<RenderJob>(renderPath(jobId), { method: "DELETE" });
}
