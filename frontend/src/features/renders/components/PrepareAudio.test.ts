import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { voicesQueryKey } from "@/features/voices/api/voices";
import type { ChapterSummary, VoiceList } from "@/lib/models";
import {
  bookRendersQueryKey,
  type RenderJob,
  type RenderStatus,
  renderJobQueryKey,
} from "../api/renders";
import { PrepareAudio } from "./PrepareAudio";
import { RenderJobStatus } from "./RenderJobStatus";

const chapter = (id: string, index: number): ChapterSummary => ({
  id,
  index,
  title: `Title ${index + 1}`,
  front_matter: false,
  sentence_count: 40,
});
const chapters = [chapter("c1", 0), chapter("c2", 1), chapter("c3", 2)];

const job = (
  status: RenderStatus,
  done: number,
  error: string | null = null,
  skipped = 0,
): RenderJob => ({
  id: "j1",
  book_id: "b1",
  chapter_id: "c3",
  voice_id: "stock-joe",
  speed: 1,
  status,
  total: 40,
  done,
  cached: 0,
  skipped,
  error,
  created_at: "2025-01-01T00:00:00Z",
  started_at: null,
  finished_at: null,
});

const statusHtml = (shown: RenderJob) =>
  renderToStaticMarkup(
    createElement(RenderJobStatus, { job: shown, chapters, onCancel: () => {}, cancelling: false }),
  );

describe("RenderJobStatus", () => {
  it("shows a labelled progress bar and a Cancel button while running", () => {
    const html = statusHtml(job("running", 12));
    expect(html).toContain('role="progressbar"');
    expect(html).toContain('aria-valuenow="12"');
    expect(html).toContain('aria-valuemax="40"');
    expect(html).toContain('aria-label="Preparing chapter 3: 12 of 40 sentences"');
    expect(html).toContain("width:30%");
    expect(html).toMatch(/<button[^>]*>Cancel<\/button>/);
  });

  it("says the chapter is ready once done, without a bar or Cancel", () => {
    const html = statusHtml(job("done", 40));
    expect(html).toContain("Ready: chapter 3 plays from this computer&#x27;s cache.");
    expect(html).not.toContain("progressbar");
    expect(html).not.toContain("Cancel");
  });

  it("says, next to the result, how many sentences had nothing to say and were skipped", () => {
    const html = statusHtml(job("done", 39, null, 1));
    expect(html).toContain('role="status"');
    expect(html).toContain("alert-warning");
    expect(html).toContain(
      'Ready: chapter 3 plays from this computer&#x27;s cache.<span data-testid="render-skipped"> 1 sentence had nothing to say and was skipped.</span>',
    );
    expect(statusHtml(job("done", 40))).not.toContain("skipped");
  });

  it("shows the job's own error text when it failed", () => {
    const html = statusHtml(job("failed", 3, "The voice engine stopped: out of memory."));
    expect(html).toContain('role="alert"');
    expect(html).toContain("The voice engine stopped: out of memory.");
  });

  it("tells how far a cancelled job got", () => {
    expect(statusHtml(job("cancelled", 7))).toContain("7 of 40 sentences are ready");
  });
});

const voiceList: VoiceList = {
  voices: [],
  stock: [{ voice_id: "stock-joe", name: "Joe", language: "en", engine: "piper" }],
  elevenlabs: [{ voice_id: "el-rachel", name: "Rachel" }],
  default_voice_id: null,
};

/** Renders the control with the server's answers already in the query cache. */
function prepareHtml(voiceId: string, bookJobs: RenderJob[]): string {
  const client = new QueryClient();
  client.setQueryData(voicesQueryKey, voiceList);
  client.setQueryData(bookRendersQueryKey("b1"), bookJobs);
  for (const listed of bookJobs) client.setQueryData(renderJobQueryKey(listed.id), listed);
  return renderToStaticMarkup(
    createElement(
      QueryClientProvider,
      { client },
      createElement(PrepareAudio, { bookId: "b1", chapters, chapterIndex: 1, voiceId, speed: 1 }),
    ),
  );
}

const buttons = (html: string) => html.match(/<button[^>]*>[^<]*<\/button>/g) ?? [];

describe("PrepareAudio", () => {
  it("offers this chapter and the whole book for a stock voice", () => {
    const html = prepareHtml("stock-joe", []);
    const offered = buttons(html);
    expect(offered.map((b) => b.replace(/<[^>]*>/g, ""))).toEqual([
      "Prepare this chapter",
      "Prepare the whole book",
    ]);
    for (const button of offered) expect(button).not.toContain("disabled");
  });

  it("is disabled for an ElevenLabs voice and explains why", () => {
    const html = prepareHtml("el-rachel", []);
    for (const button of buttons(html)) {
      expect(button).toContain("disabled");
      expect(button).toContain('aria-describedby="prepare-audio-blocked"');
    }
    expect(html).toMatch(/title="ElevenLabs voices can&#x27;t be prepared ahead/);
    expect(html).toContain("paid per character");
  });

  it("shows a job still running for this book when the reader opens", () => {
    const html = prepareHtml("stock-joe", [job("running", 12)]);
    expect(html).toContain('aria-label="Preparing chapter 3: 12 of 40 sentences"');
    expect(html).not.toContain("Prepare this chapter");
  });

  it("does not bring back a finished job when the reader opens", () => {
    const html = prepareHtml("stock-joe", [job("done", 40)]);
    expect(html).not.toContain("Ready:");
    expect(html).toContain("Prepare this chapter");
  });
});
