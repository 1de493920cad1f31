import { useState } from "react";
import type { Chapter } from "@/lib/models";
import { type Announcement, nextAnnouncement, type SentencePosition } from "../player/announcement";
import type { PlaybackState } from "../player/playback-queue";
import { trackItemsOf } from "./use-player";

/** Sentence N of M of the chapter shown, for the sentence being read (null if elsewhere). */
function positionIn(
  chapter: Chapter | undefined,
  chapterIndex: number,
  current: PlaybackState["current"],
): SentencePosition | null {
  if (!chapter || !current || current.chapterIndex !== chapterIndex) return null;
  const items = trackItemsOf(chapter, chapterIndex);
  const index = items.findIndex((item) => String(item.sentenceId) === String(current.sentenceId));
  return index < 0 ? null : { index, total: items.length };
}

/** The player's live-region text: it changes with the player's state, not with each sentence. */
export function usePlayerAnnouncement(
  state: PlaybackState,
  chapter: Chapter | undefined,
  chapterIndex: number,
  noVoice: boolean,
): string {
  const [said, setSaid] = useState<Announcement | null>(null);
  const next = nextAnnouncement(
    said,
    state.status,
    positionIn(chapter, chapterIndex, state.current),
    noVoice,
  );
  // Derived state, updated during render (React re-renders at once, before painting).
  if (next !== said) setSaid(next);
  return next.text;
}
