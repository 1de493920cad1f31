import type { PlaybackStatus } from "./playback-queue";

/** Where the reader is, as "sentence N of M" of the chapter shown (null when not known). */
export interface SentencePosition {
  index: number;
  total: number;
}

/** What the player's live region says, and the phase it was said for. */
export interface Announcement {
  phase: Phase;
  text: string;
}

type Phase = "idle" | "playing" | "waiting" | "paused" | "ended" | "no-voice";

/**
 * Buffering is part of playing: the queue goes playing → buffering → playing between sentences
 * when audio is late, and a screen reader must not hear about it each time.
 */
function phaseOf(status: PlaybackStatus, noVoice: boolean): Phase {
  if (noVoice) return "no-voice";
  if (status === "buffering") return "playing";
  return status;
}

function where(position: SentencePosition | null): string {
  return position ? `sentence ${position.index + 1} of ${position.total}` : "";
}

function describe(phase: Phase, position: SentencePosition | null): string {
  const at = where(position);
  switch (phase) {
    case "idle":
      return "";
    case "no-voice":
      return "No voice available: record a voice or choose a stock voice.";
    case "playing":
      return at ? `Playing ${at}.` : "Playing.";
    case "waiting":
      return "Waiting for the voice engine; playback resumes when it is back.";
    case "paused":
      return at ? `Paused at ${at}.` : "Paused.";
    case "ended":
      return "The end. Press Play to start again.";
  }
}

/**
 * The next text of the polite live region. It changes only when the player's phase changes
 * (play, pause, waiting, the end), never with each highlighted sentence: otherwise a screen
 * reader would be flooded with one announcement per sentence.
 */
export function nextAnnouncement(
  previous: Announcement | null,
  status: PlaybackStatus,
  position: SentencePosition | null,
  noVoice = false,
): Announcement {
  const phase = phaseOf(status, noVoice);
  if (previous && previous.phase === phase) return previous;
  return { phase, text: describe(phase, position) };
}
