import { describe, expect, it } from "vitest";
import { formatBytes } from "./format";

describe("formatBytes", () => {
  it("picks a unit a person reads at a glance", () => {
    expect(formatBytes(0)).toBe("0 bytes");
    expect(formatBytes(999)).toBe("999 bytes");
    expect(formatBytes(1500)).toBe("1.5 KB");
    expect(formatBytes(5_000_000_000)).toBe("5.0 GB");
    expect(formatBytes(250_000_000)).toBe("250 MB");
  });
});
