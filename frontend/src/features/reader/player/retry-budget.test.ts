import { describe, expect, it } from "vitest";
import { createApiClient } from "@/lib/api-client";
import { createSynthesize, MAX_TTS_ATTEMPTS } from "@/lib/tts";
import { type PlaybackDeps, PlaybackQueue, type TrackItem } from "./playback-queue";
import { asEngineDown } from "./web-audio";

async function flush(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

/**
 * The player and lib/tts.ts together, over the real API client: the sentence "Bad." is always
 * answered 503 busy (Retry-After: 1), the others with audio. Sleeps end when the test says so.
 */
function world() {
  const posts: string[] = [];
  const sleepers: (() => void)[] = [];
  const client = createApiClient(async (_url, init) => {
    const text = JSON.parse(String(init?.body)).text as string;
    posts.push(text);
    if (text === "Bad.") {
      return new Response(JSON.stringify({ detail: "busy" }), {
        status: 503,
        headers: { "Retry-After": "1" },
      });
    }
    return new Response(new Uint8Array(4800), { headers: { "Content-Type": "audio/L16" } });
  }, "");
  const synthesize = createSynthesize({
    send: client.send,
    sleep: () => new Promise<void>((resolve) => sleepers.push(resolve)),
  });
  const items: TrackItem[] = ["Good.", "Bad.", "Fine."].map((text, i) => ({
    sentenceId: i,
    chapterIndex: 0,
    text,
  }));
  let clock = 0;
  const deps: PlaybackDeps = {
    fetchClip: (request) =>
      synthesize(request, request.signal).then(
        () => ({ duration: 0.1 }),
        (error: unknown) => {
          throw asEngineDown(error);
        },
      ),
    now: () => clock,
    wallClock: () => clock * 1000,
    startClip: () => ({ stop: () => undefined }),
    suspend: () => undefined,
    resume: () => undefined,
    loadChapter: async (index) => (index === 0 ? items : null),
  };
  return {
    posts,
    deps,
    wakeAll: () => {
      for (const wake of sleepers.splice(0)) wake();
    },
    tick: (seconds: number) => {
      clock += seconds;
    },
  };
}

describe("one failing sentence's requests", () => {
  it(`are bounded by MAX_TTS_ATTEMPTS (${MAX_TTS_ATTEMPTS}) POSTs, not retried again by the player`, async () => {
    const w = world();
    const queue = new PlaybackQueue(w.deps, { voiceId: "stock-amy", speed: 1, lookahead: 3 });
    await queue.open(0);
    queue.play();
    for (let round = 0; round < 10; round++) {
      await flush();
      w.wakeAll();
      w.tick(0.2);
      queue.tick();
    }
    await flush();
    expect(w.posts.filter((text) => text === "Bad.")).toHaveLength(2);
    expect([...queue.state().failed]).toEqual(["0:1"]);
    expect(w.posts.filter((text) => text === "Fine.")).toHaveLength(1);
    queue.dispose();
  });
});
