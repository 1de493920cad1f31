import { describe, expect, it } from "vitest";
import { ApiError, createApiClient, type RequestOptions } from "./api-client";
import {
  createSynthesize,
  DEFAULT_BUSY_WAIT_SECONDS,
  ENGINE_DOWN_CODE,
  MAX_RETRY_WAIT_SECONDS,
  MAX_TTS_ATTEMPTS,
  retryDelayMs,
} from "./tts";

/** A clock that moves only when the test says so; sleep() resolves when it reaches the wake time. */
class FakeClock {
  now = Date.parse("2026-11-29T12:00:00Z");
  sleeps: number[] = [];
  private sleepers: { wake: number; resolve(): void }[] = [];

  sleep = (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    return new Promise((resolve) => this.sleepers.push({ wake: this.now + ms, resolve }));
  };

  async advance(ms: number): Promise<void> {
    this.now += ms;
    const due = this.sleepers.filter((s) => s.wake <= this.now);
    this.sleepers = this.sleepers.filter((s) => s.wake > this.now);
    for (const sleeper of due) sleeper.resolve();
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function audio(): Response {
  return new Response(new Uint8Array([0, 0, 1, 0]), {
    status: 200,
    headers: { "Content-Type": "audio/L16; rate=24000" },
  });
}

function busy(status: number, retryAfter: string | null): Response {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (retryAfter !== null) headers["Retry-After"] = retryAfter;
  return new Response(JSON.stringify({ detail: "The voice engine is busy." }), { status, headers });
}

/** /api/tts over the real API client, answering from `answers` in turn; counts the POSTs. */
function server(clock: FakeClock, answers: (() => Response)[]) {
  const posts: RequestOptions[] = [];
  const client = createApiClient(
    async (_url, init) => {
      posts.push({ json: JSON.parse(String(init?.body)) });
      const next = answers[Math.min(posts.length, answers.length) - 1];
      if (!next) throw new Error("no answer scripted");
      return next();
    },
    "",
    () => clock.now,
  );
  const synthesize = createSynthesize({ send: client.send, sleep: clock.sleep });
  return { posts, synthesize };
}

const request = { text: "Hello there.", voiceId: "stock-amy" };

describe("synthesize", () => {
  it.each([429, 503])(
    "waits out a %i's Retry-After: 3 (3 s) and then retries once",
    async (status) => {
      const clock = new FakeClock();
      const { posts, synthesize } = server(clock, [() => busy(status, "3"), audio]);
      const result = synthesize(request);
      await flush();
      expect(posts).toHaveLength(1);
      expect(clock.sleeps).toEqual([3000]);
      await clock.advance(2999);
      expect(posts).toHaveLength(1); // not a moment before the server asked
      await clock.advance(1);
      expect(posts).toHaveLength(2);
      const answer = await result;
      expect(answer.bytes.byteLength).toBe(4);
      expect(posts[1]?.json).toEqual(posts[0]?.json);
    },
  );

  it("reads Retry-After as an HTTP-date", async () => {
    const clock = new FakeClock();
    const { posts, synthesize } = server(clock, [
      () => busy(429, new Date(clock.now + 5000).toUTCString()),
      audio,
    ]);
    const result = synthesize(request);
    await flush();
    expect(clock.sleeps).toEqual([5000]);
    await clock.advance(5000);
    await result;
    expect(posts).toHaveLength(2);
  });

  it("caps a long Retry-After, and waits the default when there is none", async () => {
    const clock = new FakeClock();
    const long = server(clock, [() => busy(429, "3600"), audio]);
    const first = long.synthesize(request);
    await flush();
    await clock.advance(MAX_RETRY_WAIT_SECONDS * 1000);
    await first;
    const none = server(clock, [() => busy(503, null), audio]);
    const second = none.synthesize(request);
    await flush();
    await clock.advance(DEFAULT_BUSY_WAIT_SECONDS * 1000);
    await second;
    expect(clock.sleeps).toEqual([MAX_RETRY_WAIT_SECONDS * 1000, DEFAULT_BUSY_WAIT_SECONDS * 1000]);
  });

  it(`gives up after ${MAX_TTS_ATTEMPTS} POSTs when the engine stays busy`, async () => {
    const clock = new FakeClock();
    const { posts, synthesize } = server(clock, [() => busy(503, "1")]);
    const result = synthesize(request).catch((error: unknown) => error);
    await flush();
    await clock.advance(1000);
    await clock.advance(60_000);
    const error = (await result) as ApiError;
    expect(error.status).toBe(503);
    expect(posts).toHaveLength(2);
    expect(MAX_TTS_ATTEMPTS).toBe(2);
  });

  it("does not wait for an engine that is not running: the player does", async () => {
    const clock = new FakeClock();
    const down = () =>
      new Response(JSON.stringify({ detail: "Start it.", code: ENGINE_DOWN_CODE }), {
        status: 503,
        headers: { "Retry-After": "5" },
      });
    const { posts, synthesize } = server(clock, [down]);
    const error = (await synthesize(request).catch((e: unknown) => e)) as ApiError;
    expect(error.code).toBe(ENGINE_DOWN_CODE);
    expect(error.retryAfterSeconds).toBe(5);
    expect(posts).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
  });

  it("does not retry the request's own fault", async () => {
    const clock = new FakeClock();
    const refused = () =>
      new Response(JSON.stringify({ detail: "No such voice." }), { status: 404 });
    const { posts, synthesize } = server(clock, [refused]);
    await synthesize(request).catch(() => undefined);
    expect(posts).toHaveLength(1);
  });

  it("stops waiting when the listener moves on", async () => {
    const controller = new AbortController();
    const sleeps: number[] = [];
    const synthesize = createSynthesize({
      send: async () => {
        throw new ApiError(429, "busy", null, 3);
      },
      sleep: (ms, signal) =>
        new Promise((_resolve, reject) => {
          sleeps.push(ms);
          signal?.addEventListener("abort", () => reject(new DOMException("x", "AbortError")));
        }),
    });
    const result = synthesize(request, controller.signal).catch((e: unknown) => e);
    await flush();
    controller.abort();
    expect(((await result) as DOMException).name).toBe("AbortError");
    expect(sleeps).toEqual([3000]);
  });
});

describe("retryDelayMs", () => {
  it("retries server errors at once and connections lost mid-answer", () => {
    expect(retryDelayMs(new ApiError(500, "boom"))).toBe(0);
    expect(retryDelayMs(new TypeError("network error"))).toBe(0);
  });

  it("leaves the unreachable server and aborts to their own handling", () => {
    expect(retryDelayMs(new ApiError(0, "unreachable", "network_error"))).toBeNull();
    expect(retryDelayMs(new DOMException("aborted", "AbortError"))).toBeNull();
    expect(retryDelayMs(new ApiError(422, "bad"))).toBeNull();
  });
});
