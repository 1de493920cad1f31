import { readyVoices } from "@/features/voices/voice-choices";
import type { BookSummary, Voice } from "@/lib/models";

export interface FirstRunSteps {
  voice: boolean;
  book: boolean;
  listened: boolean;
}

/** Which of the three first steps (record a voice, add a book, listen) this user has done. */
export function firstRunSteps(voices: Voice[], books: BookSummary[]): FirstRunSteps {
  return {
    voice: readyVoices(voices).length > 0,
    book: books.length > 0,
    listened: books.some((book) => Boolean(book.progress?.updated_at)),
  };
}

export function firstRunDone(steps: FirstRunSteps): boolean {
  return steps.voice && steps.book && steps.listened;
}

/** The book listened to most recently, for "Continue listening"; null before any listening. */
export function lastListened(books: BookSummary[]): BookSummary | null {
  let latest: BookSummary | null = null;
  for (const book of books) {
    const at = book.progress?.updated_at;
    if (!at) continue;
    const latestAt = latest?.progress?.updated_at ?? "";
    if (Date.parse(at) > Date.parse(latestAt || "1970-01-01T00:00:00Z")) latest = book;
  }
  return latest;
}
