import { ErrorNotice } from "@/components/feedback";
import { useVoices } from "@/features/voices/api/voices";
import type { ChapterSummary } from "@/lib/models";
import { isActive } from "../api/renders";
import { useRenderAhead } from "../hooks/use-render-ahead";
import { RenderJobStatus } from "./RenderJobStatus";
import { renderBlockedReason } from "./render-labels";
import "./prepare-audio.css";

interface PrepareAudioProps {
  bookId: string;
  chapters: ChapterSummary[];
  /** The chapter on screen: "this chapter". */
  chapterIndex: number;
  /** The reader's voice and speed, so prepared audio is what the player will ask for. */
  voiceId: string | null;
  speed: number;
}

/** Renders a chapter or the whole book into the server's cache ahead of listening. */
export function PrepareAudio({
  bookId,
  chapters,
  chapterIndex,
  voiceId,
  speed,
}: PrepareAudioProps) {
  const voices = useVoices();
  const { job, pollError, start, cancel } = useRenderAhead(bookId);
  const blocked = renderBlockedReason(voiceId, voices.data);
  const chapter = chapters[chapterIndex];

  function prepare(chapterId?: string) {
    if (voiceId === null || blocked) return;
    cancel.reset();
    start.mutate({ voiceId, speed, ...(chapterId === undefined ? {} : { chapterId }) });
  }

  const error = start.error ?? cancel.error ?? pollError;
  return (
    <section className="prepare-audio" aria-label="Prepare audio">
      <h2>Prepare audio</h2>
      {!isActive(job) && (
        <div className="prepare-audio-actions" title={blocked ?? undefined}>
          <button
            type="button"
            className="btn btn-small"
            disabled={Boolean(blocked) || !chapter || start.isPending}
            aria-describedby={blocked ? "prepare-audio-blocked" : undefined}
            onClick={() => prepare(String(chapter?.id))}
          >
            Prepare this chapter
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            disabled={Boolean(blocked) || start.isPending}
            aria-describedby={blocked ? "prepare-audio-blocked" : undefined}
            onClick={() => prepare()}
          >
            Prepare the whole book
          </button>
        </div>
      )}
      {/* Right under the buttons or in place of them: how the job goes, and how it ended. */}
      {job && (
        <RenderJobStatus
          job={job}
          chapters={chapters}
          onCancel={() => cancel.mutate(job.id)}
          cancelling={cancel.isPending}
        />
      )}
      {error && <ErrorNotice error={error} />}
      {!isActive(job) && (
        <p className="muted small" id="prepare-audio-blocked">
          {blocked ?? "Renders ahead in the reader's voice and speed, so playback starts at once."}
        </p>
      )}
    </section>
  );
}
