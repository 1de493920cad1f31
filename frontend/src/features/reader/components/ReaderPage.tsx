import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Link, useParams } from "react-router";
import { EmptyState, ErrorNotice, Spinner } from "@/components/feedback";
import { Modal } from "@/components/Modal";
import { ExportBook } from "@/features/exports/components/ExportBook";
import { fetchChapter, fetchProgress, useBook } from "@/features/library/api/books";
import { QualityNotice } from "@/features/quality/components/QualityNotice";
import { useCurrentWord } from "@/features/quality/hooks/use-current-word";
import { PrepareAudio } from "@/features/renders/components/PrepareAudio";
import { useReaderPrefs } from "@/features/settings/hooks/use-reader-prefs";
import { useEffectiveVoiceId } from "@/features/voices/components/VoicePicker";
import { VoiceRecorder } from "@/features/voices/components/VoiceRecorder";
import { COMPACT_LAYOUT, useMediaQuery } from "@/lib/use-media-query";
import { usePageTitle } from "@/lib/use-page-title";
import { rememberLastBook } from "../hooks/use-last-book";
import { useListeningSession } from "../hooks/use-media-session";
import { chapterQueryKey, startFrom, usePlayer } from "../hooks/use-player";
import { usePlayerAnnouncement } from "../hooks/use-player-announcement";
import { useProgressSaver } from "../hooks/use-progress-saver";
import { useReaderKeys } from "../hooks/use-reader-keys";
import { useSleepTimer } from "../hooks/use-sleep-timer";
import { isActive, sentenceKey } from "../player/playback-queue";
import { ChapterList } from "./ChapterList";
import { ChapterText } from "./ChapterText";
import { PlayerBar } from "./PlayerBar";
import { SleepTimerControl } from "./SleepTimerControl";

export function ReaderPage() {
  const { bookId } = useParams();
  useEffect(() => {
    if (bookId) rememberLastBook(bookId);
  }, [bookId]);
  if (!bookId) return <NoBook />;
  return <Reader key={bookId} bookId={bookId} />;
}

function NoBook() {
  usePageTitle("Reader");
  return (
    <div className="page">
      <EmptyState title="No book open">
        <p>Pick a book from your library to start listening.</p>
        <Link className="btn btn-primary" to="/library">
          Go to the library
        </Link>
      </EmptyState>
    </div>
  );
}

function Reader({ bookId }: { bookId: string }) {
  const book = useBook(bookId);
  usePageTitle(book.data ? `${book.data.title} · Reader` : "Reader");
  const progress = useQuery({
    queryKey: ["progress", bookId],
    queryFn: () => fetchProgress(bookId),
    staleTime: 0,
    gcTime: 0,
  });
  const [prefs, updatePrefs] = useReaderPrefs();
  const voiceId = useEffectiveVoiceId(prefs.voiceId);
  const [recording, setRecording] = useState(false);
  const [viewIndex, setViewIndex] = useState<number | null>(null);
  const compact = useMediaQuery(COMPACT_LAYOUT);
  const [drawerOpen, setDrawerOpen] = useState(false);
  // The Export panel's "may be misread" link: that chapter's failures in the export's voice.
  const [failedIn, setFailedIn] = useState<{ voiceId: string; speed: number } | null>(null);

  const start = useMemo(
    () =>
      book.data && progress.isFetched ? startFrom(book.data, progress.data ?? null) : undefined,
    [book.data, progress.isFetched, progress.data],
  );
  const { queue, state, fader } = usePlayer(book.data, start, voiceId, prefs.speed);
  const sleep = useSleepTimer(queue, fader, state, prefs.sleepTimer);
  useListeningSession(book.data, queue, state);
  useProgressSaver(book.data, state.current, Boolean(queue));
  useReaderKeys(queue);

  const shownIndex = viewIndex ?? start?.chapterIndex ?? 0;
  const active = isActive(state.status);
  // Follow playback into the next chapter.
  useEffect(() => {
    if (active && state.current && state.current.chapterIndex !== shownIndex) {
      setViewIndex(state.current.chapterIndex);
    }
  }, [active, state.current, shownIndex]);

  const chapterSummary = book.data?.chapters[shownIndex];
  const chapter = useQuery({
    queryKey: chapterQueryKey(bookId, chapterSummary?.id ?? ""),
    queryFn: () => fetchChapter(bookId, chapterSummary?.id ?? ""),
    enabled: Boolean(chapterSummary),
    staleTime: Number.POSITIVE_INFINITY,
  });
  const currentWord = useCurrentWord(
    queue,
    bookId,
    state.current?.sentenceId ?? null,
    voiceId,
    prefs.speed,
    state.status === "playing",
  );
  const announcement = usePlayerAnnouncement(state, chapter.data, shownIndex, voiceId === null);

  if (book.isPending) return <Spinner label="Opening book…" />;
  if (book.error) {
    return (
      <div className="page">
        <ErrorNotice error={book.error} action={<Link to="/library">Back to the library</Link>} />
      </div>
    );
  }

  function chooseChapter(index: number) {
    setViewIndex(index);
    setDrawerOpen(false);
    setFailedIn(null);
    if (!active) void queue?.open(index);
  }

  function showFailed(index: number, failedVoiceId: string, failedSpeed: number) {
    chooseChapter(index);
    setFailedIn({ voiceId: failedVoiceId, speed: failedSpeed });
  }

  async function startAt(sentenceId: string | number) {
    if (!queue) return;
    if (!queue.seekTo(sentenceId, shownIndex)) await queue.open(shownIndex, sentenceId);
    queue.play();
  }

  const currentKey = state.current ? sentenceKey(state.current) : null;
  // On a desktop, in the sidebar; on a phone, in the drawer the Chapters button opens.
  const chaptersPanel = (
    <>
      {/* Above the chapter list, so how a job ended shows without scrolling. */}
      <PrepareAudio
        bookId={bookId}
        chapters={book.data.chapters}
        chapterIndex={shownIndex}
        voiceId={voiceId}
        speed={prefs.speed}
      />
      <ChapterList
        chapters={book.data.chapters}
        activeIndex={shownIndex}
        onChoose={chooseChapter}
      />
      <ExportBook
        bookId={bookId}
        chapters={book.data.chapters}
        chapterIndex={shownIndex}
        voiceId={voiceId}
        speed={prefs.speed}
        onShowFailed={showFailed}
      />
    </>
  );
  return (
    <div className="reader" style={{ "--reader-scale": prefs.fontScale } as React.CSSProperties}>
      <aside className="reader-sidebar">
        <Link to="/library" className="back-link">
          ← Library
        </Link>
        <h1 className="reader-title">{book.data.title}</h1>
        <p className="muted small reader-author">{book.data.author || "Unknown author"}</p>
        {!compact && chaptersPanel}
      </aside>
      {compact && drawerOpen && (
        <Modal title="Chapters" variant="drawer" onClose={() => setDrawerOpen(false)}>
          {chaptersPanel}
        </Modal>
      )}
      <section className="reader-main">
        <article className="reader-text" aria-label="Book text">
          {chapter.isPending && <Spinner label="Loading chapter…" />}
          {chapter.error && <ErrorNotice error={chapter.error} />}
          {chapter.data && (
            <QualityNotice
              bookId={bookId}
              chapterId={chapter.data.id}
              voiceId={failedIn?.voiceId ?? voiceId}
              speed={failedIn?.speed ?? prefs.speed}
              open={failedIn !== null}
              onPlay={startAt}
              onReplaced={(sentenceId) => queue?.forget(sentenceId)}
            />
          )}
          {chapter.data && (
            <ChapterText
              key={String(chapter.data.id)}
              chapter={chapter.data}
              chapterIndex={shownIndex}
              currentKey={currentKey}
              failed={state.failed}
              onSentence={startAt}
              currentWord={currentWord}
            />
          )}
          {chapter.data && shownIndex + 1 < book.data.chapters.length && (
            <button
              type="button"
              className="btn btn-ghost next-chapter"
              onClick={() => chooseChapter(shownIndex + 1)}
            >
              Next chapter →
            </button>
          )}
        </article>
        <PlayerBar
          state={state}
          disabled={!queue}
          voiceValue={prefs.voiceId}
          speed={prefs.speed}
          onVoice={(id) => updatePrefs({ voiceId: id })}
          onSpeed={(speed) => updatePrefs({ speed })}
          onToggle={() => queue?.toggle()}
          onPrevious={() => queue?.previous()}
          onNext={() => queue?.next()}
          onRecord={() => setRecording(true)}
          noVoice={voiceId === null}
          compact={compact}
          onChapters={() => setDrawerOpen(true)}
          announcement={announcement}
          sleepTimer={
            <SleepTimerControl
              state={sleep.state}
              remainingMs={sleep.remainingMs}
              disabled={!queue}
              onChoose={sleep.choose}
            />
          }
        />
      </section>
      {recording && <VoiceRecorder onClose={() => setRecording(false)} />}
    </div>
  );
}
