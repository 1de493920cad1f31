import { describe, expect, it } from "vitest";
import { encodeWav } from "./wav";

describe("encodeWav", () => {
  it("writes a RIFF header whose sizes and rate match the samples", () => {
    const wav = encodeWav(new Float32Array([0, 0.5, -1, 1, 2]), 48_000);
    const view = new DataView(wav);
    const text = (offset: number) =>
      String.fromCharCode(...new Uint8Array(wav.slice(offset, offset + 4)));
    expect(text(0)).toBe("RIFF");
    expect(text(8)).toBe("WAVE");
    expect(view.getUint32(24, true)).toBe(48_000);
    expect(view.getUint32(40, true)).toBe(10);
    expect(wav.byteLength).toBe(44 + 10);
    expect(view.getInt16(44 + 2, true)).toBe(16383);
    expect(view.getInt16(44 + 4, true)).toBe(-32768);
    expect(view.getInt16(44 + 8, true)).toBe(32767); // clipped, not wrapped
  });
});
