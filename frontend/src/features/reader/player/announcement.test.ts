import { describe, expect, it } from "vitest";
import { nextAnnouncement } from "./announcement";

describe("nextAnnouncement", () => {
  it("says nothing before playback starts", () => {
    expect(nextAnnouncement(null, "idle", { index: 0, total: 12 }).text).toBe("");
  });

  it("announces playing with the sentence it starts from", () => {
    const said = nextAnnouncement(null, "playing", { index: 2, total: 12 });
    expect(said.text).toBe("Playing sentence 3 of 12.");
  });

  it("keeps the same announcement while the highlight moves on", () => {
    const first = nextAnnouncement(null, "playing", { index: 2, total: 12 });
    const later = nextAnnouncement(first, "playing", { index: 5, total: 12 });
    expect(later).toBe(first);
  });

  it("treats buffering between sentences as playing", () => {
    const playing = nextAnnouncement(null, "playing", { index: 0, total: 3 });
    expect(nextAnnouncement(playing, "buffering", { index: 1, total: 3 })).toBe(playing);
  });

  it("announces pause, waiting and the end as they happen", () => {
    let said = nextAnnouncement(null, "playing", { index: 0, total: 4 });
    said = nextAnnouncement(said, "paused", { index: 1, total: 4 });
    expect(said.text).toBe("Paused at sentence 2 of 4.");
    said = nextAnnouncement(said, "waiting", { index: 1, total: 4 });
    expect(said.text).toMatch(/^Waiting for the voice engine/);
    said = nextAnnouncement(said, "ended", null);
    expect(said.text).toBe("The end. Press Play to start again.");
  });

  it("says playing without a position when the sentence is not in the chapter shown", () => {
    expect(nextAnnouncement(null, "playing", null).text).toBe("Playing.");
  });

  it("tells a user without a voice what to do", () => {
    expect(nextAnnouncement(null, "idle", null, true).text).toMatch(/^No voice available/);
  });
});
