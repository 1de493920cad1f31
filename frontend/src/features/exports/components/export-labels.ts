import type { BookQuality } from "@/features/quality/api/quality";
import { voiceChoices } from "@/features/voices/voice-choices";
import { type ChapterSummary, MY_VOICE_ID, type VoiceList } from "@/lib/models";
import type { ExportFormat, ExportJob } from "../api/exports";

/** Short enough for the sidebar's select (270 px); FORMAT_HINTS says more under it. */
export const FORMAT_LABELS: Record<ExportFormat, string> = {
  m4b: "Audiobook (M4B)",
  mp3: "MP3 per chapter",
  epub: "EPUB 3 read-along",
  srt: "Subtitles (SRT)",
  vtt: "Subtitles (WebVTT)",
};

export const FORMAT_HINTS: Record<ExportFormat, string> = {
  m4b: "One file with a chapter mark per chapter, cover and tags.",
  mp3: "A zip of one tagged MP3 per chapter.",
  epub: "The book that highlights each sentence as it plays (Thorium, Apple Books).",
  srt: "A zip of one subtitle file per chapter, a cue per sentence.",
  vtt: "A zip of one subtitle file per chapter, a cue per sentence.",
};

/** "1.5 MB", "820 KB". */
export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** "about 2 min left", "about 40 s left", or "" when the server has no estimate. */
export function etaLabel(etaSeconds: number | null | undefined): string {
  if (etaSeconds === null || etaSeconds === undefined) return "";
  if (etaSeconds >= 90) return `about ${Math.round(etaSeconds / 60)} min left`;
  return `about ${Math.max(1, Math.round(etaSeconds))} s left`;
}

/** The progress line of an active export: "Rendering: 12 of 40 sentences, about 1 min left". */
export function exportProgressLabel(
  job: Pick<ExportJob, "status" | "done" | "total" | "eta_s">,
): string {
  if (job.status === "queued") return "Waiting to start";
  if (job.done >= job.total) return "Writing the file";
  const eta = etaLabel(job.eta_s);
  return `Rendering: ${job.done} of ${job.total} sentences${eta ? `, ${eta}` : ""}`;
}

/** 0–100 for the bar's fill. */
export function exportPercent(job: Pick<ExportJob, "done" | "total">): number {
  if (job.total <= 0) return 100;
  return Math.round((Math.min(job.done, job.total) / job.total) * 100);
}

export interface VoiceOption {
  value: string;
  label: string;
  group: "My voices" | "Stock voices";
}

/**
 * The voices an export can read in: the user's ready voices and the stock voices (ElevenLabs
 * voices are not rendered by the server). `initial`: the reader's voice when it is one of them
 * ("Use My Voice" is the user's default voice), otherwise the first choice; null while loading.
 */
export function exportVoiceOptions(
  list: VoiceList | undefined,
  readerVoice: string | null,
): { options: VoiceOption[]; initial: string | null } {
  const { own, stock } = voiceChoices(list, readerVoice ?? "");
  const options: VoiceOption[] = [
    ...own.map((voice) => ({
      value: String(voice.id),
      label: voice.is_default ? `${voice.name} (default)` : voice.name,
      group: "My voices" as const,
    })),
    ...stock.map((voice) => ({
      value: voice.voice_id,
      label: voice.name,
      group: "Stock voices" as const,
    })),
  ];
  if (!list) return { options, initial: null };
  const mine = own.find((voice) => voice.is_default) ?? own[0];
  const wanted = readerVoice === MY_VOICE_ID && mine ? String(mine.id) : readerVoice;
  const initial = options.some((o) => o.value === wanted) ? wanted : (options[0]?.value ?? null);
  return { options, initial };
}

export interface ChapterFailures {
  /** The chapter's index in the book, for the reader to open it. */
  index: number;
  title: string;
  count: number;
}

/** The chapters (of those exported) with sentences that failed verification, in book order. */
export function failedByChapter(
  quality: Pick<BookQuality, "chapters"> | undefined,
  chapters: readonly Pick<ChapterSummary, "id" | "title">[],
  exported: ReadonlySet<string> | null,
): ChapterFailures[] {
  const failed = new Map(
    (quality?.chapters ?? []).map((c) => [String(c.chapter_id), c.failed_sentences.length]),
  );
  return chapters.flatMap((chapter, index) => {
    const id = String(chapter.id);
    const count = failed.get(id) ?? 0;
    if (count === 0 || (exported && !exported.has(id))) return [];
    return [{ index, title: chapter.title, count }];
  });
}
