import { useEffect, useRef, useState } from "react";
import { isActive, type PlaybackQueue, type PlaybackState } from "../player/playback-queue";
import { type SleepChoice, SleepTimer, type SleepTimerState } from "../player/sleep-timer";
import type { Fader } from "../player/web-audio";

const OFF: SleepTimerState = { choice: "off", endsAt: null, fading: false };

/**
 * The reader's sleep timer. The account's default (`sleepTimer` preference) is set the first
 * time playback starts in this visit; the player bar can change or cancel it at any time.
 */
export function useSleepTimer(
  queue: PlaybackQueue<AudioBuffer> | null,
  fader: Fader | null,
  playback: PlaybackState,
  defaultChoice: SleepChoice,
) {
  const [timer, setTimer] = useState<SleepTimer | null>(null);
  const [state, setState] = useState<SleepTimerState>(OFF);
  const [now, setNow] = useState(() => Date.now());
  const defaultApplied = useRef(false);

  useEffect(() => {
    if (!queue || !fader) return;
    const created = new SleepTimer({
      now: () => Date.now(),
      setTimer: (callback, ms) => window.setTimeout(callback, ms),
      clearTimer: (handle) => window.clearTimeout(handle as number),
      fadeOut: (seconds) => fader.fadeOut(seconds),
      restoreVolume: () => fader.restore(),
      pause: () => {
        queue.pause();
        return fader.silent();
      },
      stopAtChapterEnd: (on) => queue.setStopAtChapterEnd(on),
    });
    const unsubscribe = created.subscribe(setState);
    setTimer(created);
    return () => {
      unsubscribe();
      created.dispose();
      setTimer(null);
      setState(OFF);
    };
  }, [queue, fader]);

  // The account's default, once, when the listener first presses Play.
  const active = isActive(playback.status);
  useEffect(() => {
    if (!timer || !active || defaultApplied.current) return;
    defaultApplied.current = true;
    if (defaultChoice !== "off" && timer.current().choice === "off") timer.set(defaultChoice);
  }, [timer, active, defaultChoice]);

  // The player paused at the chapter end it was asked for: the timer is used up.
  useEffect(() => {
    if (timer && queue && state.choice === "chapter" && playback.status === "paused") {
      if (!queue.stopsAtChapterEnd()) timer.chapterEnded();
    }
  }, [timer, queue, state.choice, playback.status]);

  // A visible countdown: re-render every second while a minutes timer runs.
  useEffect(() => {
    if (state.endsAt === null) return;
    const interval = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(interval);
  }, [state.endsAt]);

  const remainingMs = state.endsAt === null ? null : Math.max(0, state.endsAt - now);
  return {
    state,
    remainingMs,
    choose: (choice: SleepChoice) => {
      defaultApplied.current = true; // the listener's own choice wins over the default
      setNow(Date.now());
      timer?.set(choice);
    },
  };
}
