import { environmentManager, QueryClient, QueryObserver } from "@tanstack/react-query";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RENDER_POLL_MS, type RenderJob, type RenderStatus } from "../api/renders";
import { activeJobIn, cancelRenderJob, renderJobQuery } from "./use-render-ahead";

const job = (status: RenderStatus, done = 0, id = "j1"): RenderJob => ({
  id,
  book_id: "b1",
  chapter_id: "c3",
  voice_id: "stock-joe",
  speed: 1,
  status,
  total: 4,
  done,
  cached: 0,
  skipped: 0,
  error: status === "failed" ? "The voice engine stopped." : null,
  created_at: "2025-01-01T00:00:00Z",
  started_at: null,
  finished_at: null,
});

/**
 * Stands in for the app server's render routes: GET answers the scripted
 * states one per call (the last one repeats), DELETE cancels.
 */
function fakeServer(states: (RenderJob | { status: number })[], latencyMs = 0) {
  const calls: string[] = [];
  let next = 0;
  let cancelled = false;
  const reply = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  const fetchImpl = vi.fn(async (url: string, init?: RequestInit) => {
    const method = init?.method ?? "GET";
    calls.push(`${method} ${url}`);
    if (url !== "/api/renders/j1") return reply(404, { detail: "No such route." });
    if (method === "DELETE") {
      cancelled = true;
      return reply(200, job("cancelled", 1));
    }
    if (cancelled) return reply(200, job("cancelled", 1));
    const state = states[Math.min(next++, states.length - 1)];
    if (latencyMs) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    return "id" in state ? reply(200, state) : reply(state.status, { detail: "Job not found." });
  });
  return { fetchImpl, calls, gets: () => calls.filter((call) => call.startsWith("GET")).length };
}

function watch(client: QueryClient) {
  const observer = new QueryObserver(client, renderJobQuery("j1"));
  const unsubscribe = observer.subscribe(() => {});
  return { observer, unsubscribe };
}

describe("renderJobQuery polling", () => {
  let client: QueryClient;

  beforeEach(() => {
    // Tests run without a window, which react-query takes for a server that never polls.
    environmentManager.setIsServer(() => false);
    vi.useFakeTimers();
    client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  });

  afterEach(() => {
    client.clear();
    vi.unstubAllGlobals();
    vi.useRealTimers();
    environmentManager.setIsServer(() => typeof window === "undefined");
  });

  it("asks every 1.5 s while the job runs and stops once it is done", async () => {
    const server = fakeServer([job("queued"), job("running", 2), job("done", 4)]);
    vi.stubGlobal("fetch", server.fetchImpl);
    const { observer, unsubscribe } = watch(client);

    await vi.advanceTimersByTimeAsync(0);
    expect(server.gets()).toBe(1);
    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS - 100);
    expect(server.gets()).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(server.gets()).toBe(2);
    expect(observer.getCurrentResult().data?.done).toBe(2);
    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS);
    expect(observer.getCurrentResult().data?.status).toBe("done");

    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS * 10);
    expect(server.gets()).toBe(3);
    unsubscribe();
  });

  it.each(["failed", "cancelled"] as const)("stops once the job is %s", async (status) => {
    const server = fakeServer([job("running", 1), job(status, 1)]);
    vi.stubGlobal("fetch", server.fetchImpl);
    const { observer, unsubscribe } = watch(client);

    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS * 10);
    expect(server.gets()).toBe(2);
    expect(observer.getCurrentResult().data?.status).toBe(status);
    unsubscribe();
  });

  it("stops when nothing watches the job any more (the reader unmounts)", async () => {
    const server = fakeServer([job("running", 1)]);
    vi.stubGlobal("fetch", server.fetchImpl);
    const { unsubscribe } = watch(client);

    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS * 2);
    expect(server.gets()).toBe(3);
    unsubscribe();
    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS * 10);
    expect(server.gets()).toBe(3);
  });

  it("stops when the job is gone (a 404 will not fix itself)", async () => {
    const server = fakeServer([job("running", 1), { status: 404 }]);
    vi.stubGlobal("fetch", server.fetchImpl);
    const { observer, unsubscribe } = watch(client);

    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS * 10);
    expect(server.gets()).toBe(2);
    expect(observer.getCurrentResult().error?.message).toBe("Job not found.");
    unsubscribe();
  });

  it("cancel sends DELETE, shows the cancelled job at once and stops polling", async () => {
    const server = fakeServer([job("running", 1)]);
    vi.stubGlobal("fetch", server.fetchImpl);
    const { observer, unsubscribe } = watch(client);
    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS);
    expect(server.gets()).toBe(2);

    const cancelled = await cancelRenderJob(client, "j1");
    expect(cancelled.status).toBe("cancelled");
    expect(server.calls).toContain("DELETE /api/renders/j1");
    expect(observer.getCurrentResult().data?.status).toBe("cancelled");

    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS * 10);
    expect(server.gets()).toBe(2);
    unsubscribe();
  });

  it("drops a poll still in flight when cancelling, so a stale 'running' never shows", async () => {
    const server = fakeServer([job("running", 1)], 500);
    vi.stubGlobal("fetch", server.fetchImpl);
    const { observer, unsubscribe } = watch(client);
    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS + 500 + 100); // second GET sent, unanswered
    expect(server.gets()).toBe(2);

    await cancelRenderJob(client, "j1");
    const seen: (string | undefined)[] = [];
    observer.subscribe((result) => seen.push(result.data?.status));
    await vi.advanceTimersByTimeAsync(RENDER_POLL_MS * 10);
    expect(seen).not.toContain("running");
    expect(observer.getCurrentResult().data?.status).toBe("cancelled");
    expect(server.gets()).toBe(2);
    unsubscribe();
  });
});

describe("activeJobIn", () => {
  it("picks the newest queued or running job and ignores finished ones", () => {
    const jobs = [job("done", 4, "new"), job("running", 1, "mid"), job("queued", 0, "old")];
    expect(activeJobIn(jobs)?.id).toBe("mid");
    expect(activeJobIn([job("cancelled"), job("failed")])).toBeUndefined();
    expect(activeJobIn(undefined)).toBeUndefined();
  });
});
