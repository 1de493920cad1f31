import { describe, expect, it } from "vitest";
import { etaLabel, exportPercent, exportProgressLabel, sizeLabel } from "./export-labels";

describe("export labels", () => {
  it("says how far rendering is, with the server's estimate", () => {
    expect(exportProgressLabel({ status: "queued", done: 0, total: 40, eta_s: null })).toBe(
      "Waiting to start",
    );
    expect(exportProgressLabel({ status: "running", done: 12, total: 40, eta_s: 150 })).toBe(
      "Rendering: 12 of 40 sentences, about 3 min left",
    );
    expect(exportProgressLabel({ status: "running", done: 12, total: 40, eta_s: null })).toBe(
      "Rendering: 12 of 40 sentences",
    );
    expect(exportProgressLabel({ status: "running", done: 40, total: 40, eta_s: null })).toBe(
      "Writing the file",
    );
  });

  it("formats times, sizes and the bar", () => {
    expect(etaLabel(40)).toBe("about 40 s left");
    expect(etaLabel(undefined)).toBe("");
    expect(sizeLabel(1536 * 1024)).toBe("1.5 MB");
    expect(sizeLabel(300)).toBe("1 KB");
    expect(exportPercent({ done: 1, total: 4 })).toBe(25);
    expect(exportPercent({ done: 0, total: 0 })).toBe(100);
  });
});
