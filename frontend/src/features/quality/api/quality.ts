import type { TimedWord } from "@/features/reader/player/word-highlight";
import { api } from "@/lib/api-client";

/** What speech recognition heard of a sentence's cached audio (docs/API.md, "Verification"). */
export interface SentenceHeard {
  sentence_id: string;
  cached: boolean;
  verification: { checked: boolean; passed?: boolean; takes?: number; cer?: number } | null;
  words: TimedWord[] | null;
}

export interface FailedSentence {
  sentence_id: string;
  text: string;
  cer: number | null;
  takes: number | null;
}

export interface QualityCounts {
  checked: number;
  passed_first_take: number;
  regenerated: number;
  failed: number;
  cached: number;
  failed_sentences: FailedSentence[];
}

export interface BookQuality extends QualityCounts {
  voice_id: string;
  speed: number;
  chapters: (QualityCounts & { chapter_id: string; title: string })[];
}

const bookPath = (bookId: string) => `/api/books/${encodeURIComponent(bookId)}`;
const sentencePath = (bookId: string, sentenceId: string | number) =>
  `${bookPath(bookId)}/sentences/${encodeURIComponent(String(sentenceId))}`;
const voiceQuery = (voiceId: string, speed: number) =>
  `voiceId=${encodeURIComponent(voiceId)}&speed=${speed}`;

/** Every voice's and speed's quality report of a book (a prefix of qualityQueryKey). */
export const bookQualityQueryKey = (bookId: string) => ["quality", bookId] as const;
export const qualityQueryKey = (bookId: string, voiceId: string, speed: number) =>
  [...bookQualityQueryKey(bookId), voiceId, speed] as const;
export const timingsQueryKey = (
  bookId: string,
  sentenceId: string | number,
  voiceId: string,
  speed: number,
) => ["timings", bookId, String(sentenceId), voiceId, speed] as const;

export function fetchBookQuality(bookId: string, voiceId: string, speed: number) {
  return api.json<BookQuality>(`${bookPath(bookId)}/quality?${voiceQuery(voiceId, speed)}`);
}

export function fetchTimings(
  bookId: string,
  sentenceId: string | number,
  voiceId: string,
  speed: number,
) {
  return api.json<SentenceHeard>(
    `${sentencePath(bookId, sentenceId)}/timings?${voiceQuery(voiceId, speed)}`,
  );
}

/** Renders the sentence again (new seed, heard, best of N takes), replacing its cached audio. */
export function regenerateSentence(
  bookId: string,
  sentenceId: string | number,
  voiceId: string,
  speed: number,
) {
  return api.json<SentenceHeard>(`${sentencePath(bookId, sentenceId)}/regenerate`, {
    json: { voiceId, speed },
  });
}
