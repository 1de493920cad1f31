import { beforeEach, describe, expect, it } from "vitest";
import {
  DEVICE_LOST,
  DISCARD_QUESTION,
  type Meter,
  type MicStream,
  type MicTrack,
  type RecorderDeps,
  type RecorderEvents,
  type RecorderLike,
  RecorderMachine,
  type RecorderPhase,
  type RecorderState,
} from "./recorder-machine";

class FakeTrack implements MicTrack {
  readyState: "live" | "ended" = "live";
  private onEnded: (() => void)[] = [];
  stop(): void {
    this.readyState = "ended"; // as in browsers, stop() fires no "ended" event
  }
  addEventListener(_type: "ended", listener: () => void): void {
    this.onEnded.push(listener);
  }
  /** The device went away (unplugged, taken by another app). */
  lose(): void {
    this.readyState = "ended";
    for (const listener of this.onEnded) listener();
  }
}

class FakeRecorder implements RecorderLike {
  state: "inactive" | "recording" | "paused" = "inactive";
  readonly mimeType: string;
  private readonly events: RecorderEvents;
  constructor(mimeType: string, events: RecorderEvents) {
    this.mimeType = mimeType;
    this.events = events;
  }
  start(): void {
    this.state = "recording";
  }
  /** Like MediaRecorder: the last data and the stop event arrive after stop() returns. */
  stop(): void {
    if (this.state === "inactive") return;
    this.state = "inactive";
    queueMicrotask(() => {
      this.events.data(new Blob(["take-bytes"], { type: this.mimeType }));
      this.events.stopped();
    });
  }
}

/** Microphone, meter, clock, timers and frames, driven step by step by the test. */
class FakeWorld implements RecorderDeps {
  nowMs = 0;
  unsupported: RecorderDeps["checkSupport"] extends () => infer R ? R : never = null;
  permission: "ask" | "granted" | Error = "granted";
  pendingPermission: ((stream: MicStream) => void) | null = null;
  tracks: FakeTrack[] = [];
  recorders: FakeRecorder[] = [];
  meterOpen = false;
  /** The level the microphone hears: a loud voice or digital silence. */
  loud = true;
  confirmAnswer = true;
  asked: string[] = [];
  previews: Blob[] = [];
  revoked: string[] = [];
  private timers = new Map<number, { callback: () => void; every: number; due: number }>();
  private frames = new Map<number, () => void>();
  private nextId = 1;

  checkSupport = () => this.unsupported;
  getMicrophone = (): Promise<MicStream> => {
    const track = new FakeTrack();
    this.tracks.push(track);
    const stream: MicStream = { getTracks: () => [track] };
    if (this.permission instanceof Error) return Promise.reject(this.permission);
    if (this.permission === "ask") {
      return new Promise((resolve) => {
        this.pendingPermission = resolve;
      }).then(() => stream);
    }
    return Promise.resolve(stream);
  };
  openMeter = (): Meter => {
    this.meterOpen = true;
    return {
      read: () => new Float32Array(256).fill(this.loud ? 0.3 : 0),
      time: () => this.nowMs / 1000,
      close: () => {
        this.meterOpen = false;
      },
    };
  };
  isTypeSupported = (type: string) => type === "audio/webm;codecs=opus";
  createRecorder = (_stream: MicStream, mimeType: string, events: RecorderEvents) => {
    const recorder = new FakeRecorder(mimeType, events);
    this.recorders.push(recorder);
    return recorder;
  };
  now = () => this.nowMs;
  setInterval = (callback: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.set(id, { callback, every: ms, due: this.nowMs + ms });
    return id;
  };
  clearInterval = (id: number) => {
    this.timers.delete(id);
  };
  requestFrame = (callback: () => void) => {
    const id = this.nextId++;
    this.frames.set(id, callback);
    return id;
  };
  cancelFrame = (id: number) => {
    this.frames.delete(id);
  };
  makePreview = async (blob: Blob) => {
    this.previews.push(blob);
    return `blob:preview-${this.previews.length}`;
  };
  revokeUrl = (url: string) => {
    this.revoked.push(url);
  };
  confirm = (message: string) => {
    this.asked.push(message);
    return this.confirmAnswer;
  };

  /** Moves the clock by `ms`, a frame every 50 ms, firing each timer when it falls due. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    while (this.nowMs < end) {
      this.nowMs = Math.min(end, this.nowMs + 50);
      for (const [id, callback] of [...this.frames]) {
        this.frames.delete(id);
        callback();
      }
      for (const [id, timer] of [...this.timers]) {
        while (this.timers.has(id) && timer.due <= this.nowMs) {
          timer.due += timer.every;
          timer.callback();
        }
      }
    }
  }

  pendingTimers(): number {
    return this.timers.size;
  }

  pendingFrames(): number {
    return this.frames.size;
  }

  micOpen(): boolean {
    return this.tracks.some((track) => track.readyState === "live");
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe("RecorderMachine", () => {
  let world: FakeWorld;
  let machine: RecorderMachine;
  let phases: RecorderPhase[];
  const last = (): RecorderState => machine.state();

  beforeEach(() => {
    world = new FakeWorld();
    machine = new RecorderMachine(world, { countdownFrom: 3, maxSeconds: 180 });
    phases = [];
    machine.subscribe((state) => {
      if (phases[phases.length - 1] !== state.phase) phases.push(state.phase);
    });
  });

  /** From idle to a take that has been recording for `seconds`. */
  async function recordFor(seconds: number): Promise<void> {
    await machine.start();
    world.advance(3000); // 3, 2, 1
    expect(last().phase).toBe("recording");
    world.advance(seconds * 1000);
  }

  it("goes idle → requesting → countdown → recording → stopping → review", async () => {
    world.permission = "ask";
    const started = machine.start();
    expect(last().phase).toBe("requesting");
    world.pendingPermission?.({ getTracks: () => [] });
    await started;
    expect(last()).toMatchObject({ phase: "countdown", countdown: 3 });
    world.advance(1000);
    expect(last().countdown).toBe(2);
    world.advance(1000);
    expect(last().countdown).toBe(1);
    world.advance(1000);
    expect(last()).toMatchObject({ phase: "recording", elapsed: 0 });
    expect(world.recorders[0]?.state).toBe("recording");

    world.advance(25_000);
    expect(last().elapsed).toBeCloseTo(25);
    expect(last().hints.map((hint) => hint.code)).toEqual(["good"]);
    machine.stop();
    expect(last().phase).toBe("stopping");
    await flush();

    const take = last().take;
    expect(last().phase).toBe("review");
    expect(take).toMatchObject({ url: "blob:preview-1", mimeType: "audio/webm;codecs=opus" });
    expect(take?.seconds).toBeCloseTo(25);
    expect(take?.speechSeconds).toBeGreaterThan(24);
    expect(take?.tooShort).toBe(false);
    expect(await take?.blob.text()).toBe("take-bytes"); // what Save uploads
    expect(phases).toEqual(["idle", "requesting", "countdown", "recording", "stopping", "review"]);
    // The microphone, meter, timers and frames are all let go once the take is in.
    expect(world.micOpen()).toBe(false);
    expect(world.meterOpen).toBe(false);
    expect(world.pendingTimers()).toBe(0);
    expect(world.pendingFrames()).toBe(0);
  });

  it("feeds the meter a frame at a time while the microphone is open", async () => {
    const frames: number[] = [];
    machine.onFrame((frame) => frames.push(frame.peak));
    await machine.start();
    world.advance(500);
    expect(frames.length).toBe(10);
    expect(frames[0]).toBeCloseTo(0.3);
  });

  it("re-record throws the take away (its URL revoked) and records a new one", async () => {
    await recordFor(10);
    machine.stop();
    await flush();
    machine.discard();
    expect(last()).toMatchObject({ phase: "idle", take: null, hints: [] });
    expect(world.revoked).toEqual(["blob:preview-1"]);

    await recordFor(5);
    machine.stop();
    await flush();
    expect(last().phase).toBe("review");
    expect(last().take?.seconds).toBeCloseTo(5);
    expect(world.tracks).toHaveLength(2);
  });

  it("explains a refused permission and goes back to idle with nothing left open", async () => {
    world.permission = new DOMException("Permission denied", "NotAllowedError");
    await machine.start();
    expect(last().phase).toBe("idle");
    expect(last().error?.problem).toBe("denied");
    expect(world.pendingTimers()).toBe(0);
    expect(world.pendingFrames()).toBe(0);
    expect(world.meterOpen).toBe(false);
    // Trying again clears the old message.
    world.permission = "granted";
    await machine.start();
    expect(last().error).toBeNull();
    expect(last().phase).toBe("countdown");
  });

  it("does not ask at all when the page cannot record", async () => {
    world.unsupported = { problem: "insecure", message: "needs https" };
    await machine.start();
    expect(last()).toMatchObject({ phase: "idle", error: { problem: "insecure" } });
    expect(world.tracks).toHaveLength(0);
  });

  it("keeps the take and says so when the microphone goes away mid-recording", async () => {
    await recordFor(8);
    world.tracks[0]?.lose();
    expect(last().phase).toBe("stopping");
    await flush();
    expect(last().phase).toBe("review");
    expect(last().error).toEqual(DEVICE_LOST);
    expect(last().take?.seconds).toBeCloseTo(8);
    expect(world.meterOpen).toBe(false);
    expect(world.pendingTimers()).toBe(0);
  });

  it("says so when the recorder stops by itself because its device went away", async () => {
    await recordFor(6);
    const track = world.tracks[0];
    if (track) track.readyState = "ended"; // no "ended" event yet: the recorder's stop comes first
    world.recorders[0]?.stop();
    await flush();
    expect(last().phase).toBe("review");
    expect(last().error).toEqual(DEVICE_LOST);
  });

  it("goes back to idle when the microphone goes away during the countdown", async () => {
    await machine.start();
    world.advance(1000);
    world.tracks[0]?.lose();
    expect(last()).toMatchObject({ phase: "idle", error: DEVICE_LOST });
    world.advance(5000);
    expect(world.recorders).toHaveLength(0);
  });

  it("marks a take with too little speech and says to record again", async () => {
    world.loud = false;
    await recordFor(10);
    machine.stop();
    await flush();
    expect(last().phase).toBe("review");
    expect(last().take?.tooShort).toBe(true);
    expect(last().take?.speechSeconds).toBe(0);
    const hint = last().hints.find((h) => h.code === "too_short");
    expect(hint?.tone).toBe("warning");
    expect(hint?.message).toMatch(/at least 3 s is needed/);
  });

  it("asks before discarding a take in progress; no keeps it going", async () => {
    await recordFor(4);
    world.confirmAnswer = false;
    expect(machine.requestClose()).toBe(false);
    expect(world.asked).toEqual([DISCARD_QUESTION]);
    expect(last().phase).toBe("recording");
    world.advance(2000);
    expect(last().elapsed).toBeCloseTo(6);

    world.confirmAnswer = true;
    expect(machine.requestClose()).toBe(true);
    expect(world.micOpen()).toBe(false);
    expect(world.recorders[0]?.state).toBe("inactive");
    await flush();
    expect(world.previews).toHaveLength(0); // the abandoned take is never decoded
    expect(world.pendingTimers()).toBe(0);
  });

  it("asks before discarding an unsaved take, and not when there is nothing to lose", async () => {
    expect(machine.requestClose()).toBe(true);
    expect(world.asked).toHaveLength(0);

    machine = new RecorderMachine(world);
    await recordFor(5);
    machine.stop();
    await flush();
    world.confirmAnswer = true;
    expect(machine.requestClose()).toBe(true);
    expect(world.asked).toEqual([DISCARD_QUESTION]);
    expect(world.revoked).toEqual(["blob:preview-1"]);
    machine.dispose(); // the dialog unmounting after it closed
    expect(world.revoked).toEqual(["blob:preview-1"]);
  });

  it("stops by itself at the maximum length, by the injected clock", async () => {
    await recordFor(179.5);
    expect(last().phase).toBe("recording");
    world.advance(500);
    expect(last().phase).toBe("stopping");
    await flush();
    expect(last().phase).toBe("review");
    expect(last().take?.seconds).toBeCloseTo(180);
  });

  it("Stop during the countdown goes back to idle without recording", async () => {
    await machine.start();
    world.advance(1500);
    machine.stop();
    expect(last()).toMatchObject({ phase: "idle", error: null });
    expect(world.micOpen()).toBe(false);
    world.advance(5000);
    expect(world.recorders).toHaveLength(0);
  });

  it("lets go of a microphone granted after the dialog was closed", async () => {
    world.permission = "ask";
    const started = machine.start();
    machine.dispose();
    world.pendingPermission?.({ getTracks: () => [] });
    await started;
    expect(world.micOpen()).toBe(false);
    expect(world.pendingFrames()).toBe(0);
  });

  it("explains a recorder the browser cannot create", async () => {
    world.createRecorder = () => {
      throw new DOMException("no", "NotSupportedError");
    };
    await machine.start();
    world.advance(3000);
    expect(last()).toMatchObject({ phase: "idle", error: { problem: "unknown" } });
    expect(world.micOpen()).toBe(false);
  });
});
