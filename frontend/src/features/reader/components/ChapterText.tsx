import { useEffect, useRef } from "react";
import { Icon } from "@/components/Icon";
import type { Chapter } from "@/lib/models";
import { sentenceKey } from "../player/playback-queue";

interface ChapterTextProps {
  chapter: Chapter;
  chapterIndex: number;
  currentKey: string | null;
  failed: ReadonlySet<string>;
  onSentence: (sentenceId: string | number) => void;
}

/** The chapter as paragraphs of clickable sentences; the one being read is highlighted. */
export function ChapterText({
  chapter,
  chapterIndex,
  currentKey,
  failed,
  onSentence,
}: ChapterTextProps) {
  const containerRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!currentKey) return;
    const element = containerRef.current?.querySelector<HTMLElement>(
      `[data-key="${CSS.escape(currentKey)}"]`,
    );
    if (!element) return;
    const rect = element.getBoundingClientRect();
    const visible = rect.top >= 80 && rect.bottom <= window.innerHeight - 120;
    if (!visible) element.scrollIntoView({ block: "center", behavior: "smooth" });
  }, [currentKey]);

  return (
    <div ref={containerRef}>
      <h1 className="chapter-title">{chapter.title}</h1>
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
                  tabIndex={-1}
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
                  onKeyDown={(e) => {
                    if (e.key === "Enter") onSentence(sentence.id);
                  }}
                >
                  {sentence.text}
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
