import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { fetchChapter } from "@/features/library/api/books";
import type { Book, Chapter, Progress } from "@/lib/models";
import { PlaybackQueue, type PlaybackState, type TrackItem } from "../player/playback-queue";
import { createWebAudioDeps, type Fader } from "../player/web-audio";

export interface StartPosition {
  chapterIndex: number;
  sentenceId: string | number | null;
}

export function chapterQueryKey(bookId: string, chapterId: Chapter["id"]) {
  return ["chapter", bookId, String(chapterId)] as const;
}

export function trackItemsOf(chapter: Chapter, chapterIndex: number): TrackItem[] {
  return chapter.paragraphs.flatMap((paragraph) =>
    paragraph.sentences
      .filter((sentence) => sentence.text.trim().length > 0)
      .map((sentence) => ({ sentenceId: sentence.id, chapterIndex, text: sentence.text })),
  );
}

/** Where to open a book: the saved position, else the first chapter. */
export function startFrom(
  book: Pick<Book, "chapters">,
  progress: Pick<Progress, "chapter_id" | "sentence_id"> | null,
): StartPosition {
  const index = progress
    ? book.chapters.findIndex((chapter) => String(chapter.id) === String(progress.chapter_id))
    : -1;
  if (index >= 0) return { chapterIndex: index, sentenceId: progress?.sentence_id ?? null };
  return { chapterIndex: 0, sentenceId: null };
}

const IDLE: PlaybackState = { status: "idle", current: null, failed: new Set(), outage: null };

/** One PlaybackQueue per open book, wired to Web Audio and the chapter cache. */
export function usePlayer(
  book: Book | undefined,
  start: StartPosition | undefined,
  voiceId: string | null,
  speed: number,
) {
  const queryClient = useQueryClient();
  const [state, setState] = useState<PlaybackState>(IDLE);
  const [queue, setQueue] = useState<PlaybackQueue<AudioBuffer> | null>(null);
  const [fader, setFader] = useState<Fader | null>(null);
  const settings = useRef({ voiceId, speed });
  settings.current = { voiceId, speed };
  const ready = Boolean(book && start && voiceId);

  // biome-ignore lint/correctness/useExhaustiveDependencies: one queue per book; voice and speed change below
  useEffect(() => {
    if (!book || !start || !settings.current.voiceId) return;
    const loadChapter = async (chapterIndex: number) => {
      const summary = book.chapters[chapterIndex];
      if (!summary) return null;
      const chapter = await queryClient.fetchQuery({
        queryKey: chapterQueryKey(book.id, summary.id),
        queryFn: () => fetchChapter(book.id, summary.id),
        staleTime: Number.POSITIVE_INFINITY,
      });
      return trackItemsOf(chapter, chapterIndex);
    };
    const deps = createWebAudioDeps(book.language || "en", loadChapter);
    const created = new PlaybackQueue(deps, {
      voiceId: settings.current.voiceId,
      speed: settings.current.speed,
      lookahead: 3,
      maxConcurrentFetches: 2,
    });
    const unsubscribe = created.subscribe(setState);
    const ticker = window.setInterval(() => created.tick(), 100);
    void created.open(start.chapterIndex, start.sentenceId).then(() => {
      setQueue(created);
      setFader(deps.fader);
    });
    return () => {
      window.clearInterval(ticker);
      unsubscribe();
      created.dispose();
      deps.close();
      setQueue(null);
      setFader(null);
      setState(IDLE);
    };
  }, [book?.id, ready]);

  useEffect(() => {
    if (queue && voiceId) queue.setVoice(voiceId, speed);
  }, [queue, voiceId, speed]);

  return { queue, state, fader };
}
