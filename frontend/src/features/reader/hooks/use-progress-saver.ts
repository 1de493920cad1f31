import { useEffect, useMemo } from "react";
import { saveProgress } from "@/features/library/api/books";
import { debounce } from "@/lib/debounce";
import type { Book, ProgressUpdate } from "@/lib/models";
import type { TrackItem } from "../player/playback-queue";

const SAVE_DELAY_MS = 1000;

/** Saves the reading position a moment after it settles, and when the page goes away. */
export function useProgressSaver(
  book: Book | undefined,
  current: TrackItem | null,
  enabled: boolean,
) {
  const save = useMemo(
    () =>
      debounce((progress: ProgressUpdate) => {
        if (book) void saveProgress(book.id, progress).catch(() => undefined);
      }, SAVE_DELAY_MS),
    [book],
  );

  useEffect(() => {
    if (!book || !current || !enabled) return;
    const chapter = book.chapters[current.chapterIndex];
    if (!chapter) return;
    save({ chapter_id: String(chapter.id), sentence_id: String(current.sentenceId) });
  }, [book, current, enabled, save]);

  useEffect(() => {
    const flush = () => save.flush();
    window.addEventListener("pagehide", flush);
    return () => {
      window.removeEventListener("pagehide", flush);
      save.flush();
    };
  }, [save]);
}
