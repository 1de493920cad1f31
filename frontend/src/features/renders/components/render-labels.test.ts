import { describe, expect, it } from "vitest";
import {
  jobSubject,
  progressLabel,
  progressPercent,
  renderBlockedReason,
  skippedNote,
} from "./render-labels";

const chapters = [{ id: "c1" }, { id: "c2" }, { id: "c3" }];

describe("progressLabel", () => {
  it("names the chapter by its place in the list and counts sentences", () => {
    expect(
      progressLabel({ chapter_id: "c3", status: "running", done: 12, total: 40 }, chapters),
    ).toBe("Preparing chapter 3: 12 of 40 sentences");
  });

  it("says when the job waits its turn and when it covers the whole book", () => {
    expect(progressLabel({ chapter_id: null, status: "queued", done: 0, total: 1 }, chapters)).toBe(
      "Waiting to prepare the whole book: 0 of 1 sentence",
    );
  });

  it("copes with a chapter the book no longer lists", () => {
    expect(jobSubject({ chapter_id: "gone" }, chapters)).toBe("a chapter");
  });
});

describe("progressPercent", () => {
  it("rounds, caps at 100 and treats an empty job as complete", () => {
    expect(progressPercent({ done: 1, total: 3 })).toBe(33);
    expect(progressPercent({ done: 5, total: 4 })).toBe(100);
    expect(progressPercent({ done: 0, total: 0 })).toBe(100);
  });
});

describe("renderBlockedReason", () => {
  const voices = { elevenlabs: [{ voice_id: "21m00Tcm4TlvDq8ikWAM", name: "Rachel" }] };

  it("blocks ElevenLabs voices and says why and what to pick instead", () => {
    const reason = renderBlockedReason("21m00Tcm4TlvDq8ikWAM", voices);
    expect(reason).toContain("paid per character");
    expect(reason).toContain("stock voice");
  });

  it("allows own and stock voices, and asks for a voice when there is none", () => {
    expect(renderBlockedReason("stock-joe", voices)).toBeNull();
    expect(renderBlockedReason("custom_user_voice", voices)).toBeNull();
    expect(renderBlockedReason(null, voices)).toMatch(/Choose a voice/);
  });
});

describe("skippedNote", () => {
  it("counts the sentences a job passed over, and says nothing when there were none", () => {
    expect(skippedNote({ skipped: 0 })).toBeNull();
    expect(skippedNote({ skipped: 1 })).toBe("1 sentence had nothing to say and was skipped.");
    expect(skippedNote({ skipped: 3 })).toBe("3 sentences had nothing to say and were skipped.");
  });
});
