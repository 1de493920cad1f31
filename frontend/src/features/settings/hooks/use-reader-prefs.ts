import { useCallback, useSyncExternalStore } from "react";
import { MY_VOICE_ID } from "@/lib/models";

export const SLEEP_TIMERS = ["off", "15", "30", "45", "60", "chapter"] as const;
export type SleepTimer = (typeof SLEEP_TIMERS)[number];

export interface ReaderPrefs {
  voiceId: string;
  speed: number;
  fontScale: number;
  /** The sleep timer a listening session starts with. */
  sleepTimer: SleepTimer;
}

export const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2] as const;
export const DEFAULT_PREFS: ReaderPrefs = {
  voiceId: MY_VOICE_ID,
  speed: 1,
  fontScale: 1,
  sleepTimer: "off",
};

function isSleepTimer(value: unknown): value is SleepTimer {
  return typeof value === "string" && (SLEEP_TIMERS as readonly string[]).includes(value);
}
const KEY = "ownvoice.readerPrefs";
const listeners = new Set<() => void>();
let cachedRaw: string | null = null;
let cachedPrefs: ReaderPrefs = DEFAULT_PREFS;

/** Parses stored preferences, falling back field by field to the defaults. */
export function parsePrefs(raw: string | null): ReaderPrefs {
  if (!raw) return DEFAULT_PREFS;
  try {
    const value = JSON.parse(raw) as Partial<ReaderPrefs>;
    const speed = Number(value.speed);
    const fontScale = Number(value.fontScale);
    return {
      voiceId:
        typeof value.voiceId === "string" && value.voiceId ? value.voiceId : DEFAULT_PREFS.voiceId,
      speed: speed >= 0.5 && speed <= 2 ? speed : DEFAULT_PREFS.speed,
      fontScale: fontScale >= 0.8 && fontScale <= 1.6 ? fontScale : DEFAULT_PREFS.fontScale,
      sleepTimer: isSleepTimer(value.sleepTimer) ? value.sleepTimer : DEFAULT_PREFS.sleepTimer,
    };
  } catch {
    return DEFAULT_PREFS;
  }
}

function read(): ReaderPrefs {
  const raw = localStorage.getItem(KEY);
  if (raw !== cachedRaw) {
    cachedRaw = raw;
    cachedPrefs = parsePrefs(raw);
  }
  return cachedPrefs;
}

/** Reader preferences for this device (voice, speed, text size). */
export function useReaderPrefs(): [ReaderPrefs, (change: Partial<ReaderPrefs>) => void] {
  const prefs = useSyncExternalStore((listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, read);
  const update = useCallback((change: Partial<ReaderPrefs>) => {
    localStorage.setItem(KEY, JSON.stringify({ ...read(), ...change }));
    for (const listener of listeners) listener();
  }, []);
  return [prefs, update];
}
