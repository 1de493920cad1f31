import { describe, expect, it } from "vitest";
import { movedFocusKey, tabStopKey } from "./sentence-focus";

const KEYS = ["0:a", "0:b", "0:c"];

describe("tabStopKey", () => {
  it("prefers the sentence last focused in the chapter", () => {
    expect(tabStopKey(KEYS, "0:c", "0:b")).toBe("0:c");
  });

  it("falls back to the sentence being read, then to the first", () => {
    expect(tabStopKey(KEYS, null, "0:b")).toBe("0:b");
    expect(tabStopKey(KEYS, "1:x", "1:y")).toBe("0:a");
  });

  it("has no tab stop in an empty chapter", () => {
    expect(tabStopKey([], null, null)).toBeNull();
  });
});

describe("movedFocusKey", () => {
  it("moves down and up one sentence, staying inside the chapter", () => {
    expect(movedFocusKey(KEYS, "0:a", "ArrowDown")).toBe("0:b");
    expect(movedFocusKey(KEYS, "0:c", "ArrowDown")).toBe("0:c");
    expect(movedFocusKey(KEYS, "0:b", "ArrowUp")).toBe("0:a");
    expect(movedFocusKey(KEYS, "0:a", "ArrowUp")).toBe("0:a");
  });

  it("jumps to the first and last with Home and End", () => {
    expect(movedFocusKey(KEYS, "0:b", "Home")).toBe("0:a");
    expect(movedFocusKey(KEYS, "0:b", "End")).toBe("0:c");
  });

  it("ignores other keys and unknown sentences", () => {
    expect(movedFocusKey(KEYS, "0:b", "ArrowRight")).toBeNull();
    expect(movedFocusKey(KEYS, "9:z", "ArrowDown")).toBeNull();
  });
});
