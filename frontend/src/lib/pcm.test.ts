import { describe, expect, it } from "vitest";
import { pcm16ToFloat32, sampleRateFrom } from "./pcm";

describe("pcm16ToFloat32", () => {
  it("decodes little-endian signed samples", () => {
    const bytes = new Uint8Array([0x00, 0x00, 0xff, 0x7f, 0x00, 0x80, 0x00, 0x40]);
    const out = pcm16ToFloat32(bytes.buffer);
    expect(Array.from(out)).toEqual([0, 32767 / 32768, -1, 0.5]);
  });

  it("drops a trailing half sample", () => {
    expect(pcm16ToFloat32(new Uint8Array([0, 0x40, 7]).buffer)).toHaveLength(1);
  });
});

describe("sampleRateFrom", () => {
  it("prefers X-Sample-Rate, then the content type, then 24 kHz", () => {
    expect(sampleRateFrom(new Headers({ "X-Sample-Rate": "22050" }))).toBe(22050);
    expect(sampleRateFrom(new Headers({ "Content-Type": "audio/L16;rate=16000" }))).toBe(16000);
    expect(sampleRateFrom(new Headers({ "X-Sample-Rate": "nonsense" }))).toBe(24000);
  });
});
