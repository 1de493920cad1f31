/**
 * The sleep timer, independent of the DOM and of Web Audio.
 *
 * A minutes timer counts wall-clock time from when it is set; its last
 * `FADE_MS` fade the audio out, then playback pauses and the volume is put
 * back (after the pause, so nothing is heard jumping back up) for the next
 * Play. "End of chapter" asks the player to pause where the chapter being
 * heard ends (PlaybackQueue.setStopAtChapterEnd), at a sentence boundary,
 * without a fade. Either kind is used up once it fires.
 *
 * Everything outside (timers, clock, volume, the player) comes in through
 * `SleepTimerDeps`, so the logic is unit-tested with fakes.
 */

import type { SleepTimer as SleepChoice } from "@/features/settings/hooks/use-reader-prefs";

/** "off", "15"…"60" minutes, or "chapter"; the account's default is the sleepTimer preference. */
export type { SleepChoice };

/** How long the audio takes to fade out before a minutes timer pauses it. */
export const FADE_MS = 10_000;

export interface SleepTimerDeps {
  /** Wall-clock milliseconds (Date.now). */
  now(): number;
  setTimer(callback: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  fadeOut(seconds: number): void;
  restoreVolume(): void;
  /** Pauses playback; resolves once the audio is silent. */
  pause(): Promise<void> | void;
  /** Arms (true) or cancels (false) the player's pause at the end of the chapter. */
  stopAtChapterEnd(on: boolean): void;
}

export interface SleepTimerState {
  choice: SleepChoice;
  /** Wall-clock ms when a minutes timer runs out (null for "off" and "chapter"). */
  endsAt: number | null;
  fading: boolean;
}

const OFF: SleepTimerState = { choice: "off", endsAt: null, fading: false };

export function minutesOf(choice: SleepChoice): number | null {
  return choice === "off" || choice === "chapter" ? null : Number(choice);
}

/** "12:05" for what is left, rounded up to the second; "0:00" once run out. */
export function formatRemaining(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

export class SleepTimer {
  private readonly deps: SleepTimerDeps;
  private state: SleepTimerState = OFF;
  private timers: unknown[] = [];
  private listeners = new Set<(state: SleepTimerState) => void>();

  constructor(deps: SleepTimerDeps) {
    this.deps = deps;
  }

  subscribe(listener: (state: SleepTimerState) => void): () => void {
    this.listeners.add(listener);
    listener(this.state);
    return () => this.listeners.delete(listener);
  }

  current(): SleepTimerState {
    return this.state;
  }

  /** Milliseconds left of a minutes timer, else null. */
  remainingMs(): number | null {
    return this.state.endsAt === null ? null : Math.max(0, this.state.endsAt - this.deps.now());
  }

  /** Sets the timer (replacing any running one); "off" cancels. */
  set(choice: SleepChoice): void {
    this.clear();
    const minutes = minutesOf(choice);
    if (choice === "chapter") {
      this.deps.stopAtChapterEnd(true);
      this.update({ choice, endsAt: null, fading: false });
    } else if (minutes !== null) {
      const total = minutes * 60_000;
      this.timers.push(this.deps.setTimer(() => this.beginFade(), Math.max(0, total - FADE_MS)));
      this.update({ choice, endsAt: this.deps.now() + total, fading: false });
    } else {
      this.update(OFF);
    }
  }

  cancel(): void {
    this.set("off");
  }

  /** The player paused at the chapter end the timer asked for: the timer is used up. */
  chapterEnded(): void {
    if (this.state.choice === "chapter") {
      this.timers = [];
      this.update(OFF);
    }
  }

  dispose(): void {
    this.clear();
    this.listeners.clear();
  }

  private beginFade(): void {
    const left = this.remainingMs() ?? 0;
    this.deps.fadeOut(Math.min(FADE_MS, left) / 1000);
    this.timers = [this.deps.setTimer(() => void this.finish(), left)];
    this.update({ ...this.state, fading: true });
  }

  private async finish(): Promise<void> {
    this.timers = [];
    this.update(OFF);
    await this.deps.pause();
    this.deps.restoreVolume();
  }

  /** Stops whatever is running, undoing its effect on the player. */
  private clear(): void {
    for (const handle of this.timers) this.deps.clearTimer(handle);
    this.timers = [];
    if (this.state.fading) this.deps.restoreVolume();
    if (this.state.choice === "chapter") this.deps.stopAtChapterEnd(false);
  }

  private update(state: SleepTimerState): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }
}
