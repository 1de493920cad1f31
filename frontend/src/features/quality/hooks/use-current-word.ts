import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { PlaybackQueue } from "@/features/reader/player/playback-queue";
import { type TimedWord, wordIndexAt } from "@/features/reader/player/word-highlight";
import { fetchTimings, timingsQueryKey } from "../api/quality";

/** How often the word is looked up while a sentence sounds (words last about 0.3 s). */
const WORD_TICK_MS = 50;
/** A live sentence is heard shortly after it played: its timings are asked for again. */
const UNHEARD_RETRY_MS = 3000;

export interface CurrentWord {
  sentenceId: string | number;
  words: TimedWord[];
  index: number;
}

/**
 * The word being said in the sentence now sounding: its word timings (fetched per sentence)
 * against how far into its audio the player's clock is (PlaybackQueue.soundingPosition).
 */
export function useCurrentWord(
  queue: PlaybackQueue<AudioBuffer> | null,
  bookId: string,
  sentenceId: string | number | null,
  voiceId: string | null,
  speed: number,
  playing: boolean,
): CurrentWord | null {
  const timings = useQuery({
    queryKey: timingsQueryKey(bookId, sentenceId ?? "", voiceId ?? "", speed),
    queryFn: () => fetchTimings(bookId, sentenceId ?? "", voiceId ?? "", speed),
    // Asked for once the sentence sounds: before that it may not be rendered (or heard) yet.
    enabled: playing && sentenceId !== null && voiceId !== null,
    // Timings, once there, stay as they are; "not heard yet" is asked again (below).
    staleTime: (query) => (query.state.data?.words ? Number.POSITIVE_INFINITY : 0),
    retry: false,
    refetchInterval: (query) => (playing && !query.state.data?.words ? UNHEARD_RETRY_MS : false),
  });
  const words = timings.data?.words ?? null;
  const [index, setIndex] = useState(-1);

  useEffect(() => {
    if (!queue || !words || !playing) return;
    const tick = () => {
      const position = queue.soundingPosition();
      const same = position && String(position.item.sentenceId) === String(sentenceId);
      setIndex(same ? wordIndexAt(words, position.seconds) : -1);
    };
    tick();
    const timer = window.setInterval(tick, WORD_TICK_MS);
    return () => window.clearInterval(timer);
  }, [queue, words, playing, sentenceId]);

  if (sentenceId === null || !words) return null;
  return { sentenceId, words, index };
}
