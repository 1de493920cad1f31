import { describe, expect, it } from "vitest";
import { DEFAULT_PREFS, fromServer, parsePrefs, toServer } from "./use-reader-prefs";

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
    expect(parsePrefs(JSON.stringify({ sleepTimer: "7" })).sleepTimer).toBe("off");
    expect(parsePrefs(JSON.stringify({ sleepTimer: "chapter" })).sleepTimer).toBe("chapter");
  });
});

describe("server preferences", () => {
  it("map from the API's names and back", () => {
    const prefs = fromServer({
      voice_id: "stock-joe",
      speed: 1.25,
      font_scale: 1.2,
      sleep_timer: "30",
    });
    expect(prefs).toEqual({ voiceId: "stock-joe", speed: 1.25, fontScale: 1.2, sleepTimer: "30" });
    expect(toServer(prefs)).toEqual({
      voice_id: "stock-joe",
      speed: 1.25,
      font_scale: 1.2,
      sleep_timer: "30",
    });
  });

  it("send only the fields that changed", () => {
    expect(toServer({ speed: 0.75 })).toEqual({ speed: 0.75 });
    expect(toServer({})).toEqual({});
  });
});
