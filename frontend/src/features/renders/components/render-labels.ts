import type { ChapterSummary, VoiceList } from "@/lib/models";
import type { RenderJob } from "../api/renders";

/** "chapter 3" (its place in the chapter list, as the list numbers untitled ones) or "the whole book". */
export function jobSubject(
  job: Pick<RenderJob, "chapter_id">,
  chapters: Pick<ChapterSummary, "id">[],
): string {
  if (job.chapter_id === null) return "the whole book";
  const index = chapters.findIndex((chapter) => String(chapter.id) === String(job.chapter_id));
  return index >= 0 ? `chapter ${index + 1}` : "a chapter";
}

/** The progress bar's label: "Preparing chapter 3: 12 of 40 sentences". */
export function progressLabel(
  job: Pick<RenderJob, "chapter_id" | "status" | "done" | "total">,
  chapters: Pick<ChapterSummary, "id">[],
): string {
  const verb = job.status === "queued" ? "Waiting to prepare" : "Preparing";
  const noun = job.total === 1 ? "sentence" : "sentences";
  return `${verb} ${jobSubject(job, chapters)}: ${job.done} of ${job.total} ${noun}`;
}

/** What a job passed over: "1 sentence had nothing to say and was skipped.", or null. */
export function skippedNote(job: Pick<RenderJob, "skipped">): string | null {
  if (!job.skipped) return null;
  return job.skipped === 1
    ? "1 sentence had nothing to say and was skipped."
    : `${job.skipped} sentences had nothing to say and were skipped.`;
}

/** 0–100, for the bar's fill; an empty job counts as complete. */
export function progressPercent(job: Pick<RenderJob, "done" | "total">): number {
  if (job.total <= 0) return 100;
  return Math.round((Math.min(job.done, job.total) / job.total) * 100);
}

/**
 * Why the reader's voice cannot be prepared ahead, or null when it can.
 * ElevenLabs voices are paid per character, so the server fetches them only as you listen.
 */
export function renderBlockedReason(
  voiceId: string | null,
  voices: Pick<VoiceList, "elevenlabs"> | undefined,
): string | null {
  if (voiceId === null) return "Choose a voice first: audio is prepared in the reader's voice.";
  if (voices?.elevenlabs.some((voice) => voice.voice_id === voiceId)) {
    return "ElevenLabs voices can't be prepared ahead: they are paid per character, so they are fetched as you listen. Pick one of your voices or a stock voice to prepare audio.";
  }
  return null;
}
