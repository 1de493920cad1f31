import { beforeEach, describe, expect, it } from "vitest";
import {
  type ClipRequest,
  EngineDownError,
  type PlaybackDeps,
  PlaybackQueue,
  type PlaybackState,
  skippedIn,
  type TrackItem,
} from "./playback-queue";

interface FakeClip {
  text: string;
  duration: number;
}

interface Started {
  text: string;
  when: number;
  stopped: boolean;
}

interface PendingFetch {
  request: ClipRequest;
  resolve(clip: FakeClip): void;
  reject(error: Error): void;
}

/** A fake audio clock, network and book, driven step by step by the test. */
class FakeWorld implements PlaybackDeps<FakeClip> {
  time = 0;
  /** Wall-clock ms; moves only when the test says so. */
  wall = 1_000_000;
  suspended = false;
  pending: PendingFetch[] = [];
  requests: ClipRequest[] = [];
  started: Started[] = [];
  chapterLoads: number[] = [];
  chapters: string[][];

  constructor(chapters: string[][]) {
    this.chapters = chapters;
  }

  fetchClip = (request: ClipRequest): Promise<FakeClip> => {
    this.requests.push(request);
    return new Promise((resolve, reject) => this.pending.push({ request, resolve, reject }));
  };
  now = () => this.time;
  wallClock = () => this.wall;
  startClip = (clip: FakeClip, when: number) => {
    const record: Started = { text: clip.text, when, stopped: false };
    this.started.push(record);
    return {
      stop: () => {
        record.stopped = true;
      },
    };
  };
  suspend = () => {
    this.suspended = true;
  };
  resume = () => {
    this.suspended = false;
  };
  loadChapter = async (chapterIndex: number): Promise<TrackItem[] | null> => {
    this.chapterLoads.push(chapterIndex);
    const sentences = this.chapters[chapterIndex];
    if (!sentences) return null;
    return sentences.map((text, i) => ({
      sentenceId: `c${chapterIndex}s${i}`,
      chapterIndex,
      text,
    }));
  };

  /** Answers the oldest pending fetch for `text` with a clip of `duration` seconds. */
  succeed(text: string, duration = 2): void {
    const index = this.pending.findIndex(
      (p) => p.request.text === text && !p.request.signal.aborted,
    );
    if (index < 0) throw new Error(`no pending fetch for "${text}"`);
    const [fetch] = this.pending.splice(index, 1);
    fetch?.resolve({ text, duration });
  }

  fail(text: string): void {
    const index = this.pending.findIndex(
      (p) => p.request.text === text && !p.request.signal.aborted,
    );
    if (index < 0) throw new Error(`no pending fetch for "${text}"`);
    const [fetch] = this.pending.splice(index, 1);
    fetch?.reject(new Error("HTTP 500"));
  }

  /** The engine is not there: the oldest pending fetch for `text` says so. */
  down(text: string, retryAfterSeconds: number | null = 5): void {
    const index = this.pending.findIndex(
      (p) => p.request.text === text && !p.request.signal.aborted,
    );
    if (index < 0) throw new Error(`no pending fetch for "${text}"`);
    const [fetch] = this.pending.splice(index, 1);
    fetch?.reject(new EngineDownError("engine unreachable", "engine", retryAfterSeconds));
  }

  pendingTexts(): string[] {
    return this.pending.filter((p) => !p.request.signal.aborted).map((p) => p.request.text);
  }

  liveStarts(): Started[] {
    return this.started.filter((s) => !s.stopped);
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function makeQueue(world: FakeWorld, lookahead = 3, maxConcurrentFetches = 4) {
  const queue = new PlaybackQueue<FakeClip>(world, {
    voiceId: "stock-joe",
    speed: 1,
    lookahead,
    maxConcurrentFetches,
    startLeadSeconds: 0.05,
    retryBaseMs: 1000,
    retryMaxMs: 4000,
  });
  const states: PlaybackState[] = [];
  queue.subscribe((state) => states.push(state));
  return { queue, states, last: () => states[states.length - 1] as PlaybackState };
}

describe("PlaybackQueue", () => {
  let world: FakeWorld;

  beforeEach(() => {
    world = new FakeWorld([
      ["A0", "A1", "A2", "A3", "A4", "A5"],
      ["B0", "B1"],
    ]);
  });

  it("fetches nothing until play is pressed", async () => {
    const { queue } = makeQueue(world);
    await queue.open(0);
    queue.tick();
    expect(world.requests).toHaveLength(0);
  });

  it("requests the current sentence and the ones after it ahead of time", async () => {
    const { queue } = makeQueue(world);
    await queue.open(0);
    queue.play();
    expect(world.pendingTexts()).toEqual(["A0", "A1", "A2", "A3"]);
    world.succeed("A0");
    await flush();
    // While A0 plays, at least the next two are already on their way.
    expect(world.pendingTexts()).toEqual(expect.arrayContaining(["A1", "A2"]));
  });

  it("respects the fetch concurrency limit", async () => {
    const { queue } = makeQueue(world, 3, 2);
    await queue.open(0);
    queue.play();
    expect(world.pendingTexts()).toEqual(["A0", "A1"]);
    world.succeed("A0");
    await flush();
    expect(world.pendingTexts()).toEqual(["A1", "A2"]);
  });

  it("schedules sentences back to back on the audio clock with no gap", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    expect(last().status).toBe("buffering");
    world.succeed("A0", 2);
    world.succeed("A1", 1.5);
    world.succeed("A2", 3);
    await flush();
    const starts = world.liveStarts();
    expect(starts.map((s) => s.text)).toEqual(["A0", "A1", "A2"]);
    expect(starts[0]?.when).toBeCloseTo(0.05);
    expect(starts[1]?.when).toBeCloseTo(2.05);
    expect(starts[2]?.when).toBeCloseTo(3.55);
  });

  it("reports the sentence being heard as the clock advances", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 2);
    world.succeed("A1", 2);
    await flush();
    world.time = 1;
    queue.tick();
    expect(last().status).toBe("playing");
    expect(last().current?.text).toBe("A0");
    world.time = 2.5;
    queue.tick();
    expect(last().current?.text).toBe("A1");
  });

  it("tells how far into its own audio the sounding sentence is (for word timings)", async () => {
    const { queue } = makeQueue(world);
    await queue.open(0);
    queue.play();
    expect(queue.soundingPosition()).toBeNull(); // nothing sounding yet
    world.succeed("A0", 2);
    world.succeed("A1", 2);
    await flush();
    world.time = 1.05; // A0 began at 0.05 (the start lead)
    queue.tick();
    expect(queue.soundingPosition()?.item.text).toBe("A0");
    expect(queue.soundingPosition()?.seconds).toBeCloseTo(1.0);
    world.time = 2.55;
    queue.tick();
    expect(queue.soundingPosition()?.item.text).toBe("A1");
    expect(queue.soundingPosition()?.seconds).toBeCloseTo(0.5);
  });

  it("fetches a forgotten (regenerated) sentence again when it is next played", async () => {
    const { queue } = makeQueue(world, 0, 1);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 1);
    await flush();
    world.time = 2;
    queue.tick();
    await queue.open(0, "c0s0");
    queue.play();
    await flush();
    expect(world.requests.filter((r) => r.text === "A0")).toHaveLength(1); // from memory
    queue.forget("c0s0");
    await queue.open(0, "c0s0");
    queue.play();
    await flush();
    expect(world.requests.filter((r) => r.text === "A0")).toHaveLength(2);
  });

  it("schedules a late sentence at once when it arrives after an underrun", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 1);
    await flush();
    world.time = 1.5; // A0 is over and A1 has not arrived
    queue.tick();
    expect(last().status).toBe("buffering");
    expect(last().current?.text).toBe("A1");
    world.succeed("A1", 1);
    await flush();
    const a1 = world.liveStarts().find((s) => s.text === "A1");
    expect(a1?.when).toBeGreaterThanOrEqual(1.5);
  });

  it("does not retry a failed sentence itself: fetchClip's retry is the only one", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.fail("A0");
    await flush();
    expect(world.requests.filter((r) => r.text === "A0")).toHaveLength(1);
    expect(world.pendingTexts()).not.toContain("A0");
    expect([...last().failed]).toEqual(["0:c0s0"]);
  });

  it("skips a sentence that fails, marks it, and keeps playing", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 1);
    world.fail("A1");
    world.succeed("A2", 1);
    await flush();
    expect(last().failed.has("0:c0s1")).toBe(true);
    expect(world.liveStarts().map((s) => s.text)).toEqual(["A0", "A2"]);
    // A2 starts right where A0 ended: the failure cost no silence.
    expect(world.liveStarts()[1]?.when).toBeCloseTo(1.05);
    expect(world.requests.filter((r) => r.text === "A1")).toHaveLength(1);
  });

  it("does not stall when the sentence being waited for fails", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.fail("A0");
    await flush();
    expect(last().current?.text).toBe("A1");
    world.succeed("A1", 1);
    await flush();
    expect(world.liveStarts().map((s) => s.text)).toEqual(["A1"]);
  });

  it("crosses into the next chapter by itself, without a gap", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0, "c0s4");
    queue.play();
    await flush();
    // Chapter 1 (and, as it is short, the end of the book) is loaded ahead.
    expect(world.chapterLoads).toEqual([0, 1, 2]);
    world.succeed("A4", 1);
    world.succeed("A5", 1);
    world.succeed("B0", 1);
    await flush();
    const starts = world.liveStarts();
    expect(starts.map((s) => s.text)).toEqual(["A4", "A5", "B0"]);
    expect(starts[2]?.when).toBeCloseTo(2.05);
    world.time = 2.5;
    queue.tick();
    expect(last().current).toMatchObject({ chapterIndex: 1, text: "B0" });
  });

  it("passes over empty chapters and ends after the last one", async () => {
    world.chapters = [["A0"], [], ["C0"]];
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    await flush();
    world.succeed("A0", 1);
    world.succeed("C0", 1);
    await flush();
    expect(world.liveStarts().map((s) => s.text)).toEqual(["A0", "C0"]);
    world.time = 5;
    queue.tick();
    await flush();
    expect(world.chapterLoads).toContain(3);
    expect(last().status).toBe("ended");
  });

  it("restarts from the book's first sentence when Play is pressed at the end", async () => {
    world.chapters = [[], ["A0", "A1"], ["B0"]];
    const { queue, last } = makeQueue(world);
    await queue.open(2);
    queue.play();
    world.succeed("B0", 1);
    await flush();
    world.time = 5;
    queue.tick();
    await flush();
    expect(last().status).toBe("ended");
    queue.play();
    await flush();
    // The empty first chapter (a title page) is passed over.
    expect(last().current).toMatchObject({ chapterIndex: 1, text: "A0" });
    expect(last().status).toBe("buffering");
    world.succeed("A0", 1);
    await flush();
    expect(world.started.map((s) => s.text)).toEqual(["B0", "A0"]);
  });

  it("pauses at the end of the chapter when asked, instead of crossing", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0, "c0s4");
    queue.setStopAtChapterEnd(true);
    queue.play();
    await flush();
    world.succeed("A4", 1);
    world.succeed("A5", 1);
    world.succeed("B0", 1);
    await flush();
    // B0 is fetched (warm for later) but never put on the clock.
    expect(world.liveStarts().map((s) => s.text)).toEqual(["A4", "A5"]);
    world.time = 1.5;
    queue.tick();
    expect(last()).toMatchObject({ status: "playing", current: { text: "A5" } });
    world.time = 2.5;
    queue.tick();
    expect(last().status).toBe("paused");
    expect(world.suspended).toBe(true);
    expect(last().current).toMatchObject({ chapterIndex: 1, text: "B0" });
    // Play goes on with the next chapter; the stop was used up.
    queue.play();
    queue.tick();
    expect(world.liveStarts().map((s) => s.text)).toEqual(["A4", "A5", "B0"]);
  });

  it("moves the end-of-chapter stop to the chapter the listener jumps to", async () => {
    world.chapters = [["A0"], ["B0"], ["C0"]];
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.setStopAtChapterEnd(true);
    await queue.open(1);
    queue.play();
    await flush();
    world.succeed("B0", 1);
    world.succeed("C0", 1);
    await flush();
    expect(world.liveStarts().map((s) => s.text)).toEqual(["B0"]);
    world.time = 2;
    queue.tick();
    expect(last()).toMatchObject({ status: "paused", current: { text: "C0" } });
  });

  it("crosses chapters again once the end-of-chapter stop is cancelled", async () => {
    const { queue } = makeQueue(world);
    await queue.open(0, "c0s5");
    queue.setStopAtChapterEnd(true);
    queue.play();
    await flush();
    queue.setStopAtChapterEnd(false);
    world.succeed("A5", 1);
    world.succeed("B0", 1);
    await flush();
    expect(world.liveStarts().map((s) => s.text)).toEqual(["A5", "B0"]);
  });

  it("pauses and resumes the audio clock", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 2);
    await flush();
    world.time = 1;
    queue.pause();
    expect(world.suspended).toBe(true);
    expect(last().status).toBe("paused");
    queue.play();
    expect(world.suspended).toBe(false);
    expect(last().status).toBe("playing");
    expect(world.liveStarts()).toHaveLength(1); // the same clip carries on
  });

  it("seeks to a clicked sentence, stopping what was scheduled", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 2);
    world.succeed("A1", 2);
    await flush();
    world.time = 0.5;
    queue.seekTo("c0s4");
    expect(world.started.every((s) => s.stopped)).toBe(true);
    expect(last().current?.text).toBe("A4");
    expect(world.pendingTexts()).toContain("A4");
    world.succeed("A4", 1);
    await flush();
    expect(world.liveStarts()[0]).toMatchObject({ text: "A4" });
    expect(world.liveStarts()[0]?.when).toBeCloseTo(0.55);
  });

  it("starts a cached sentence at once, without fetching again", async () => {
    const { queue } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 2);
    world.succeed("A1", 2);
    world.succeed("A2", 2);
    await flush();
    world.time = 0.3;
    const before = world.requests.length;
    queue.next(); // A1 is ready in the cache
    expect(world.requests.slice(before).map((r) => r.text)).not.toContain("A1");
    expect(world.liveStarts()[0]).toMatchObject({ text: "A1" });
  });

  it("moves with next and previous", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0, "c0s2");
    expect(last().current?.text).toBe("A2");
    queue.next();
    expect(last().current?.text).toBe("A3");
    queue.previous();
    queue.previous();
    expect(last().current?.text).toBe("A1");
  });

  it("refetches ahead with the new speed when speed changes", async () => {
    const { queue } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 2);
    await flush();
    queue.setVoice("stock-joe", 1.5);
    await flush();
    const fast = world.requests.filter((r) => r.speed === 1.5).map((r) => r.text);
    expect(fast).toContain("A0");
    expect(
      world.requests.filter((r) => r.speed === 1 && !r.signal.aborted && r.text !== "A0"),
    ).toHaveLength(0);
  });
});

describe("PlaybackQueue when the voice engine is down", () => {
  let world: FakeWorld;

  beforeEach(() => {
    world = new FakeWorld([["A0", "A1", "A2", "A3", "A4", "A5"]]);
  });

  /** Plays A0 (1 s), then the engine goes away for A1..A3; the clock passes A0's end. */
  async function downAfterFirst(queue: PlaybackQueue<FakeClip>) {
    await queue.open(0);
    queue.play();
    world.succeed("A0", 1);
    world.down("A1");
    world.down("A2");
    world.down("A3");
    await flush();
    world.time = 1.5;
    queue.tick();
  }

  it("waits at the sentence, skips nothing, and resumes by itself when the engine is back", async () => {
    const { queue, last } = makeQueue(world);
    await downAfterFirst(queue);
    expect(last()).toMatchObject({ status: "waiting", outage: { kind: "engine" } });
    expect(last().current?.text).toBe("A1");
    expect(last().failed.size).toBe(0);
    expect(world.pendingTexts()).toEqual([]);

    // Retry-After (5 s) is honoured: nothing is asked before it.
    world.wall += 4999;
    queue.tick();
    expect(world.pendingTexts()).toEqual([]);
    world.wall += 1;
    queue.tick();
    expect(world.pendingTexts()).toEqual(["A1"]); // one probe, not the whole lookahead
    world.down("A1");
    await flush();
    expect(last().status).toBe("waiting");
    expect(last().failed.size).toBe(0);

    world.wall += 5000;
    queue.tick();
    world.succeed("A1", 1); // the engine is back
    await flush();
    expect(last().outage).toBeNull();
    expect(world.pendingTexts()).toEqual(["A2", "A3", "A4"]);
    world.time = 1.6;
    queue.tick();
    expect(last()).toMatchObject({ status: "playing", current: { text: "A1" } });
    expect(world.liveStarts().map((s) => s.text)).toEqual(["A0", "A1"]);
    expect(last().failed.size).toBe(0);
  });

  it("backs off, doubling up to the cap, when the server gives no Retry-After", async () => {
    const { queue } = makeQueue(world);
    await queue.open(0);
    queue.play();
    for (const text of ["A0", "A1", "A2", "A3"]) world.down(text, null);
    await flush();
    const waits: number[] = [];
    for (let probe = 0; probe < 4; probe++) {
      let waited = 0;
      while (world.pendingTexts().length === 0) {
        world.wall += 100;
        waited += 100;
        queue.tick();
      }
      waits.push(waited);
      world.down("A0", null);
      await flush();
    }
    expect(waits).toEqual([1000, 2000, 4000, 4000]);
  });

  it("keeps playing audio that still arrives (the server's cache) and waits after it", async () => {
    const { queue, last } = makeQueue(world);
    await queue.open(0);
    queue.play();
    world.succeed("A0", 1);
    world.down("A2");
    await flush();
    expect(last().outage).not.toBeNull();
    world.succeed("A1", 1); // a cache hit, in flight when the engine went away
    await flush();
    expect(world.liveStarts().map((s) => s.text)).toEqual(["A0", "A1"]);
    world.time = 1.5;
    queue.tick();
    expect(last()).toMatchObject({ status: "playing", current: { text: "A1" } });
    expect(last().outage).not.toBeNull(); // a cache hit does not mean the engine is back
    world.time = 2.5;
    queue.tick();
    expect(last()).toMatchObject({ status: "waiting", current: { text: "A2" } });
  });

  it("asks again at once when the listener presses play or moves", async () => {
    const { queue, last } = makeQueue(world);
    await downAfterFirst(queue);
    queue.pause();
    expect(last().status).toBe("paused");
    queue.play();
    expect(world.pendingTexts()).toEqual(["A1"]);
    world.down("A1");
    await flush();
    queue.next();
    expect(world.pendingTexts()).toEqual(["A2"]);
  });

  it("still skips a sentence that fails for its own reasons once the engine answers", async () => {
    const { queue, last } = makeQueue(world);
    await downAfterFirst(queue);
    world.wall += 5000;
    queue.tick();
    world.fail("A1"); // an answer, just not audio: the engine is there
    await flush();
    expect(last().outage).toBeNull();
    expect([...last().failed]).toEqual(["0:c0s1"]);
  });
});

describe("skippedIn", () => {
  it("counts only the chapter asked about, so a count does not carry into other chapters", () => {
    const failed = new Set(["0:c0s1", "0:c0s4", "1:c1s0", "10:c10s2"]);
    expect(skippedIn(failed, 0)).toBe(2);
    expect(skippedIn(failed, 1)).toBe(1);
    expect(skippedIn(failed, 2)).toBe(0);
    expect(skippedIn(failed, undefined)).toBe(0);
  });
});
