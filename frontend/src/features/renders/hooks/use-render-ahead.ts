import {
  type QueryClient,
  queryOptions,
  useMutation,
  useQuery,
  useQueryClient,
} from "@tanstack/react-query";
import { useState } from "react";
import {
  bookRendersQueryKey,
  cancelRender,
  fetchBookRenders,
  fetchRenderJob,
  isActive,
  RENDER_POLL_MS,
  type RenderJob,
  type RenderRequest,
  renderJobQueryKey,
  startRender,
} from "../api/renders";

/** A 4xx while polling (job deleted, signed out) will not fix itself by asking again. */
function isClientError(error: unknown): boolean {
  const status = (error as { status?: number } | null)?.status ?? 0;
  return status >= 400 && status < 500;
}

/**
 * One job, polled every RENDER_POLL_MS while it is queued or running. Polling
 * stops by itself once the job is done, failed or cancelled, and when the last
 * component watching it unmounts (react-query clears the interval).
 */
export function renderJobQuery(jobId: string) {
  return queryOptions({
    queryKey: renderJobQueryKey(jobId),
    queryFn: () => fetchRenderJob(jobId),
    refetchInterval: (query) =>
      isActive(query.state.data) && !isClientError(query.state.error) ? RENDER_POLL_MS : false,
  });
}

/**
 * Cancels a job and shows the answer at once. A poll already in flight is
 * dropped first, so a stale "running" cannot land after the "cancelled".
 */
export async function cancelRenderJob(queryClient: QueryClient, jobId: string): Promise<RenderJob> {
  const job = await cancelRender(jobId);
  await queryClient.cancelQueries({ queryKey: renderJobQueryKey(jobId) });
  queryClient.setQueryData(renderJobQueryKey(jobId), job);
  return job;
}

/** The newest job still queued or running in a newest-first list. */
export function activeJobIn(jobs: RenderJob[] | undefined): RenderJob | undefined {
  return jobs?.find(isActive);
}

/**
 * The reader's render-ahead state for one book: the job to show (one started
 * here, or one still active when the reader opened) and start/cancel actions.
 */
export function useRenderAhead(bookId: string) {
  const queryClient = useQueryClient();
  const [startedId, setStartedId] = useState<string | null>(null);
  const existing = useQuery({
    queryKey: bookRendersQueryKey(bookId),
    queryFn: () => fetchBookRenders(bookId),
    staleTime: 0,
  });
  const jobId = startedId ?? activeJobIn(existing.data)?.id ?? null;
  const job = useQuery({ ...renderJobQuery(jobId ?? ""), enabled: jobId !== null });

  const start = useMutation({
    mutationFn: (request: RenderRequest) => startRender(bookId, request),
    onSuccess: (started) => {
      queryClient.setQueryData(renderJobQueryKey(started.id), started);
      setStartedId(started.id);
    },
  });
  const cancel = useMutation({
    mutationFn: (id: string) => cancelRenderJob(queryClient, id),
  });

  return {
    job: jobId === null ? undefined : job.data,
    pollError: job.error,
    start,
    cancel,
  };
}
