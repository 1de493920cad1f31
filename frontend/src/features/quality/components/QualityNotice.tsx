import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import {
  type FailedSentence,
  fetchBookQuality,
  qualityQueryKey,
  regenerateSentence,
  timingsQueryKey,
} from "../api/quality";
import "./quality.css";

interface QualityNoticeProps {
  bookId: string;
  chapterId: string | number;
  voiceId: string | null;
  speed: number;
  onPlay: (sentenceId: string | number) => void;
  /** The sentence's audio changed on the server: drop what the player holds of it. */
  onReplaced: (sentenceId: string | number) => void;
  /** Shown open and scrolled into view (the Export panel's link to the misread sentences). */
  open?: boolean;
}

/**
 * The chapter's sentences that speech recognition did not hear right (failed every take):
 * "n sentences may be misread", opening a list with Play and Regenerate for each.
 */
export function QualityNotice({
  bookId,
  chapterId,
  voiceId,
  speed,
  onPlay,
  onReplaced,
  open = false,
}: QualityNoticeProps) {
  const shown = useRef<HTMLDetailsElement>(null);
  const queryClient = useQueryClient();
  const quality = useQuery({
    queryKey: qualityQueryKey(bookId, voiceId ?? "", speed),
    queryFn: () => fetchBookQuality(bookId, voiceId ?? "", speed),
    enabled: voiceId !== null,
    staleTime: 30_000,
    retry: false,
  });
  const regenerate = useMutation({
    mutationFn: (sentence: FailedSentence) =>
      regenerateSentence(bookId, sentence.sentence_id, voiceId ?? "", speed),
    onSuccess: (_answer, sentence) => {
      onReplaced(sentence.sentence_id);
      void queryClient.invalidateQueries({
        queryKey: qualityQueryKey(bookId, voiceId ?? "", speed),
      });
      void queryClient.invalidateQueries({
        queryKey: timingsQueryKey(bookId, sentence.sentence_id, voiceId ?? "", speed),
      });
    },
  });
  const chapter = quality.data?.chapters.find((c) => String(c.chapter_id) === String(chapterId));
  const failed = chapter?.failed_sentences ?? [];
  const hasFailures = failed.length > 0;
  useEffect(() => {
    if (open && hasFailures) shown.current?.scrollIntoView({ block: "nearest" });
  }, [open, hasFailures]);
  if (!hasFailures) return null;
  const count = failed.length === 1 ? "1 sentence" : `${failed.length} sentences`;
  return (
    <details
      ref={shown}
      className="quality-notice"
      data-testid="quality-notice"
      open={open || undefined}
    >
      <summary>{count} may be misread</summary>
      <ul>
        {failed.map((sentence) => (
          <li key={sentence.sentence_id}>
            <span className="quality-text">{sentence.text}</span>
            <button
              type="button"
              className="btn btn-ghost"
              onClick={() => onPlay(sentence.sentence_id)}
            >
              Play
            </button>
            <button
              type="button"
              className="btn btn-ghost"
              disabled={regenerate.isPending}
              onClick={() => regenerate.mutate(sentence)}
            >
              {regenerate.isPending && regenerate.variables?.sentence_id === sentence.sentence_id
                ? "Regenerating…"
                : "Regenerate"}
            </button>
          </li>
        ))}
      </ul>
      {regenerate.error && <p role="alert">{regenerate.error.message}</p>}
    </details>
  );
}
