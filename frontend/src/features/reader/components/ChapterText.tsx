import { useEffect, useMemo, useRef, useState } from "react";
import { Icon } from "@/components/Icon";
import type { CurrentWord } from "@/features/quality/hooks/use-current-word";
import type { Chapter } from "@/lib/models";
import { sentenceKey } from "../player/playback-queue";
import { textPieces } from "../player/word-highlight";
import { movedFocusKey, tabStopKey } from "./sentence-focus";

interface ChapterTextProps {
  chapter: Chapter;
  chapterIndex: number;
  currentKey: string | null;
  failed: ReadonlySet<string>;
  onSentence: (sentenceId: string | number) => void;
  /** The word being said in the current sentence (its word timings), when known. */
  currentWord?: CurrentWord | null;
}

/** A sentence's text as word spans, the one being said marked `current-word`. */
function SentenceWords({ text, word }: { text: string; word: CurrentWord }) {
  return (
    <>
      {textPieces(text, word.words).map((piece, i) =>
        piece.word === null ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: pieces are fixed for a sentence
          <span key={i}>{piece.text}</span>
        ) : (
          <span
            // biome-ignore lint/suspicious/noArrayIndexKey: pieces are fixed for a sentence
            key={i}
            className={`word${piece.word === word.index ? " current-word" : ""}`}
          >
            {piece.text}
          </span>
        ),
      )}
    </>
  );
}

/**
 * The chapter as paragraphs of clickable sentences; the one being read is highlighted. From the
 * keyboard the text is one Tab stop (see sentence-focus.ts): ↑/↓ move between sentences and
 * Enter or Space plays from the focused one.
 * Render it with `key={chapter.id}`: another chapter is a new list, never one reconciled with
 * the last (paragraph ids repeated by an old server once left its paragraphs on the page).
 */
export function ChapterText({
  chapter,
  chapterIndex,
  currentKey,
  failed,
  onSentence,
  currentWord = null,
}: ChapterTextProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const [focusedKey, setFocusedKey] = useState<string | null>(null);
  const keys = useMemo(
    () =>
      chapter.paragraphs.flatMap((paragraph) =>
        paragraph.sentences.map((sentence) =>
          sentenceKey({ chapterIndex, sentenceId: sentence.id }),
        ),
      ),
    [chapter, chapterIndex],
  );
  const tabStop = tabStopKey(keys, focusedKey, currentKey);

  function onSentenceKey(event: React.KeyboardEvent, key: string, sentenceId: string | number) {
    if (event.key === "Enter" || event.key === " ") {
      // Not the page-wide Space (play/pause): play from this sentence.
      event.preventDefault();
      event.stopPropagation();
      onSentence(sentenceId);
      return;
    }
    const target = movedFocusKey(keys, key, event.key);
    if (target === null) return;
    event.preventDefault();
    setFocusedKey(target);
    containerRef.current?.querySelector<HTMLElement>(`[data-key="${CSS.escape(target)}"]`)?.focus();
  }

  // A chapter opens at its top: the top of the block that holds the text (the page's top when
  // nothing is above it), before the effect below brings the current sentence into view.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs once per chapter shown
  useEffect(() => {
    const text = containerRef.current?.parentElement ?? containerRef.current;
    const top = text ? text.getBoundingClientRect().top + window.scrollY : 0;
    window.scrollTo({ top: Math.max(0, top), behavior: "instant" });
  }, [chapter.id]);

  useEffect(() => {
    if (!currentKey) return;
    const element = containerRef.current?.querySelector<HTMLElement>(
      `[data-key="${CSS.escape(currentKey)}"]`,
    );
    if (!element) return;
    const rect = element.getBoundingClientRect();
    // Its first line in sight is enough: a long sentence may be taller than the free space.
    const visible = rect.top >= 80 && rect.top + 40 <= window.innerHeight - 120;
    if (!visible) element.scrollIntoView({ block: "center", behavior: "smooth" });
  }, [currentKey]);

  return (
    <div ref={containerRef}>
      <h2 className="chapter-title">{chapter.title}</h2>
      <div className="visually-hidden" id="sentence-keys-hint">
        Up and down arrows move between sentences; Enter plays from the one in focus.
      </div>
      {chapter.paragraphs.map((paragraph) => (
        <p key={String(paragraph.id)}>
          {paragraph.sentences.map((sentence) => {
            const key = sentenceKey({ chapterIndex, sentenceId: sentence.id });
            const isCurrent = key === currentKey;
            const isFailed = failed.has(key);
            return (
              <span key={key}>
                {/* biome-ignore lint/a11y/useSemanticElements: inline sentence, a button would break the text flow */}
                <span
                  role="button"
                  tabIndex={key === tabStop ? 0 : -1}
                  aria-describedby={key === tabStop ? "sentence-keys-hint" : undefined}
                  data-key={key}
                  data-sentence-id={String(sentence.id)}
                  className={`sentence${isCurrent ? " current" : ""}${isFailed ? " failed" : ""}`}
                  aria-current={isCurrent ? "true" : undefined}
                  title={
                    isFailed
                      ? "This sentence could not be spoken and was skipped"
                      : "Play from here"
                  }
                  onClick={() => onSentence(sentence.id)}
                  onFocus={() => setFocusedKey(key)}
                  onKeyDown={(e) => onSentenceKey(e, key, sentence.id)}
                >
                  {isCurrent &&
                  currentWord &&
                  String(currentWord.sentenceId) === String(sentence.id) ? (
                    <SentenceWords text={sentence.text} word={currentWord} />
                  ) : (
                    sentence.text
                  )}
                  {isFailed && (
                    <span className="failed-marker">
                      {" "}
                      <Icon name="alert" size={14} />
                      <span className="visually-hidden"> (skipped)</span>
                    </span>
                  )}
                </span>{" "}
              </span>
            );
          })}
        </p>
      ))}
    </div>
  );
}
