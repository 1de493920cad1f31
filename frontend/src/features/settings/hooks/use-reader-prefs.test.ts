import { describe, expect, it } from "vitest";
import { DEFAULT_PREFS, parsePrefs } from "./use-reader-prefs";

describe("parsePrefs", () => {
  it("uses defaults for missing or broken storage", () => {
    expect(parsePrefs(null)).toEqual(DEFAULT_PREFS);
    expect(parsePrefs("{not json")).toEqual(DEFAULT_PREFS);
  });

  it("keeps valid fields and replaces out-of-range ones", () => {
    expect(parsePrefs(JSON.stringify({ voiceId: "stock-joe", speed: 1.5, fontScale: 9 }))).toEqual({
      voiceId: "stock-joe",
      speed: 1.5,
      fontScale: 1,
      sleepTimer: "off",
    });
    expect(parsePrefs(JSON.stringify({ speed: 3 })).speed).toBe(1);
  });
});
