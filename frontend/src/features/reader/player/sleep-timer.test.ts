import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FADE_MS, formatRemaining, SleepTimer, type SleepTimerDeps } from "./sleep-timer";

/** The player and the speakers, as the sleep timer sees them; time is vitest's fake clock. */
function fakeDeps() {
  const log: string[] = [];
  let releasePause: () => void = () => {};
  const deps: SleepTimerDeps = {
    now: () => Date.now(),
    setTimer: (callback, ms) => setTimeout(callback, ms),
    clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    fadeOut: (seconds) => log.push(`fade ${seconds}s`),
    restoreVolume: () => log.push("restore"),
    pause: () => {
      log.push("pause");
      // Resolves when the test says the audio went silent.
      return new Promise<void>((resolve) => {
        releasePause = resolve;
      });
    },
    stopAtChapterEnd: (on) => log.push(`chapter-stop ${on}`),
  };
  return { deps, log, silent: () => releasePause() };
}

describe("SleepTimer", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-01-01T22:00:00Z"));
  });
  afterEach(() => vi.useRealTimers());

  it("fades out over the last ten seconds, then pauses and restores the volume after", async () => {
    const { deps, log, silent } = fakeDeps();
    const timer = new SleepTimer(deps);
    timer.set("15");
    expect(timer.remainingMs()).toBe(15 * 60_000);
    vi.advanceTimersByTime(15 * 60_000 - FADE_MS - 1);
    expect(log).toEqual([]);
    expect(timer.current().fading).toBe(false);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(["fade 10s"]);
    expect(timer.current()).toMatchObject({ choice: "15", fading: true });
    vi.advanceTimersByTime(FADE_MS - 1);
    expect(log).toEqual(["fade 10s"]);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(["fade 10s", "pause"]);
    expect(timer.current()).toEqual({ choice: "off", endsAt: null, fading: false });
    // Full volume comes back only once the audio is silent, never mid-sound.
    silent();
    await vi.runAllTimersAsync();
    expect(log).toEqual(["fade 10s", "pause", "restore"]);
  });

  it("counts down the time left", () => {
    const { deps } = fakeDeps();
    const timer = new SleepTimer(deps);
    timer.set("45");
    vi.advanceTimersByTime(90_500);
    expect(timer.remainingMs()).toBe(45 * 60_000 - 90_500);
    expect(formatRemaining(timer.remainingMs() ?? 0)).toBe("43:30");
  });

  it("cancels: nothing fades or pauses later", () => {
    const { deps, log } = fakeDeps();
    const timer = new SleepTimer(deps);
    timer.set("30");
    timer.cancel();
    vi.advanceTimersByTime(60 * 60_000);
    expect(log).toEqual([]);
    expect(timer.remainingMs()).toBeNull();
  });

  it("cancelling during the fade puts the volume back at once", () => {
    const { deps, log } = fakeDeps();
    const timer = new SleepTimer(deps);
    timer.set("15");
    vi.advanceTimersByTime(15 * 60_000 - 3_000);
    timer.cancel();
    vi.advanceTimersByTime(10_000);
    expect(log).toEqual(["fade 10s", "restore"]);
  });

  it("a new choice replaces the running one", () => {
    const { deps, log } = fakeDeps();
    const timer = new SleepTimer(deps);
    timer.set("15");
    timer.set("60");
    vi.advanceTimersByTime(30 * 60_000);
    expect(log).toEqual([]);
    expect(timer.remainingMs()).toBe(30 * 60_000);
  });

  it("end of chapter arms the player's chapter stop, and disarms it when cancelled", () => {
    const { deps, log } = fakeDeps();
    const timer = new SleepTimer(deps);
    timer.set("chapter");
    expect(timer.current()).toEqual({ choice: "chapter", endsAt: null, fading: false });
    expect(timer.remainingMs()).toBeNull();
    timer.set("15");
    expect(log).toEqual(["chapter-stop true", "chapter-stop false"]);
  });

  it("end of chapter is used up once the player stopped there", () => {
    const { deps, log } = fakeDeps();
    const timer = new SleepTimer(deps);
    const seen: string[] = [];
    timer.subscribe((state) => seen.push(state.choice));
    timer.set("chapter");
    timer.chapterEnded();
    expect(seen).toEqual(["off", "chapter", "off"]);
    timer.cancel();
    // The player already dropped its stop; nothing more to undo.
    expect(log).toEqual(["chapter-stop true"]);
  });
});

describe("formatRemaining", () => {
  it("rounds up to the second", () => {
    expect(formatRemaining(15 * 60_000)).toBe("15:00");
    expect(formatRemaining(61_001)).toBe("1:02");
    expect(formatRemaining(999)).toBe("0:01");
    expect(formatRemaining(-5)).toBe("0:00");
  });
});
