import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { api } from "@/lib/api-client";
import { debounce } from "@/lib/debounce";
import type { ServerPreferences } from "@/lib/models";
import { MY_VOICE_ID } from "@/lib/models";

export const SLEEP_TIMERS = ["off", "15", "30", "45", "60", "chapter"] as const;
export type SleepTimer = (typeof SLEEP_TIMERS)[number];
export const SLEEP_TIMER_LABELS: Record<SleepTimer, string> = {
  off: "Off",
  "15": "15 minutes",
  "30": "30 minutes",
  "45": "45 minutes",
  "60": "60 minutes",
  chapter: "End of chapter",
};

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
const KEY = "ownvoice.readerPrefs";
export const PREFS_QUERY_KEY = ["preferences"] as const;

function isSleepTimer(value: unknown): value is SleepTimer {
  return typeof value === "string" && (SLEEP_TIMERS as readonly string[]).includes(value);
}

/** Validates preferences field by field, falling back to the defaults. */
export function sanitizePrefs(value: Partial<Record<keyof ReaderPrefs, unknown>>): ReaderPrefs {
  const speed = Number(value.speed);
  const fontScale = Number(value.fontScale);
  return {
    voiceId:
      typeof value.voiceId === "string" && value.voiceId ? value.voiceId : DEFAULT_PREFS.voiceId,
    speed: speed >= 0.5 && speed <= 2 ? speed : DEFAULT_PREFS.speed,
    fontScale: fontScale >= 0.8 && fontScale <= 1.6 ? fontScale : DEFAULT_PREFS.fontScale,
    sleepTimer: isSleepTimer(value.sleepTimer) ? value.sleepTimer : DEFAULT_PREFS.sleepTimer,
  };
}

/** Parses this browser's copy of the preferences (shown until the server answers). */
export function parsePrefs(raw: string | null): ReaderPrefs {
  if (!raw) return DEFAULT_PREFS;
  try {
    return sanitizePrefs(JSON.parse(raw) as Partial<ReaderPrefs>);
  } catch {
    return DEFAULT_PREFS;
  }
}

export function fromServer(server: ServerPreferences): ReaderPrefs {
  return sanitizePrefs({
    voiceId: server.voice_id,
    speed: server.speed,
    fontScale: server.font_scale,
    sleepTimer: server.sleep_timer,
  });
}

export function toServer(change: Partial<ReaderPrefs>): Partial<ServerPreferences> {
  const patch: Partial<ServerPreferences> = {};
  if (change.voiceId !== undefined) patch.voice_id = change.voiceId;
  if (change.speed !== undefined) patch.speed = change.speed;
  if (change.fontScale !== undefined) patch.font_scale = change.fontScale;
  if (change.sleepTimer !== undefined) patch.sleep_timer = change.sleepTimer;
  return patch;
}

function readLocal(): ReaderPrefs {
  return parsePrefs(localStorage.getItem(KEY));
}

function writeLocal(prefs: ReaderPrefs): void {
  localStorage.setItem(KEY, JSON.stringify(prefs));
}

async function fetchPrefs(): Promise<ReaderPrefs> {
  const prefs = fromServer(await api.json<ServerPreferences>("/api/preferences"));
  writeLocal(prefs);
  return prefs;
}

// Changes made in quick succession (a text-size slider) go to the server as one PATCH.
let pendingPatch: Partial<ServerPreferences> = {};
const savePending = debounce<null>(() => {
  const patch = pendingPatch;
  pendingPatch = {};
  void api.json("/api/preferences", { method: "PATCH", json: patch }).catch(() => {
    // Kept in this browser; the next change or reload tries again.
  });
}, 400);

/** Reader preferences of this account (voice, speed, text size, sleep timer), in every browser. */
export function useReaderPrefs(): [ReaderPrefs, (change: Partial<ReaderPrefs>) => void] {
  const queryClient = useQueryClient();
  const query = useQuery({
    queryKey: PREFS_QUERY_KEY,
    queryFn: fetchPrefs,
    placeholderData: readLocal,
    staleTime: 30_000,
  });
  const update = useCallback(
    (change: Partial<ReaderPrefs>) => {
      const current = queryClient.getQueryData<ReaderPrefs>(PREFS_QUERY_KEY) ?? readLocal();
      const next = sanitizePrefs({ ...current, ...change });
      queryClient.setQueryData(PREFS_QUERY_KEY, next);
      writeLocal(next);
      pendingPatch = { ...pendingPatch, ...toServer(change) };
      savePending(null);
    },
    [queryClient],
  );
  return [query.data ?? readLocal(), update];
}
