import { describe, expect, it } from "vitest";
import { HintTracker, type Level, measureLevel, meterFraction } from "./levels";

function tone(amplitude: number, length = 1024): Float32Array {
  return Float32Array.from(
    { length },
    (_, i) => amplitude * Math.sin((2 * Math.PI * 440 * i) / 48000),
  );
}

const level = (dbfs: number, peak = 0.3): Level => ({ rms: 10 ** (dbfs / 20), peak, dbfs });

/** Feeds `seconds` of 20 ms frames at a fixed level. */
function feed(tracker: HintTracker, from: number, seconds: number, l: Level): number {
  let t = from;
  for (; t < from + seconds; t += 0.02) tracker.push(l, t);
  return t;
}

describe("measureLevel", () => {
  it("measures RMS, peak and dBFS of a sine", () => {
    const l = measureLevel(tone(0.5));
    expect(l.peak).toBeCloseTo(0.5, 2);
    expect(l.rms).toBeCloseTo(0.5 / Math.SQRT2, 2);
    expect(l.dbfs).toBeCloseTo(-9.03, 1);
  });

  it("calls digital silence -100 dBFS", () => {
    expect(measureLevel(new Float32Array(256)).dbfs).toBe(-100);
    expect(measureLevel(new Float32Array(0)).dbfs).toBe(-100);
  });

  it("maps dBFS onto a meter", () => {
    expect(meterFraction(-100)).toBe(0);
    expect(meterFraction(-30)).toBeCloseTo(0.5);
    expect(meterFraction(3)).toBe(1);
  });
});

describe("HintTracker", () => {
  it("counts only loud-enough frames as speech", () => {
    const tracker = new HintTracker();
    let t = feed(tracker, 0, 5, level(-20));
    t = feed(tracker, t, 5, level(-70));
    expect(tracker.speechSeconds()).toBeGreaterThan(4.9);
    expect(tracker.speechSeconds()).toBeLessThan(5.1);
  });

  it("says too quiet after a quiet stretch, and stops once the voice is loud", () => {
    const tracker = new HintTracker();
    let t = feed(tracker, 0, 3, level(-55));
    expect(tracker.hints().map((h) => h.code)).toContain("too_quiet");
    t = feed(tracker, t, 3, level(-20));
    expect(tracker.hints().map((h) => h.code)).not.toContain("too_quiet");
  });

  it("does not call the first moments of a take quiet", () => {
    const tracker = new HintTracker();
    feed(tracker, 0, 1, level(-80));
    expect(tracker.hints().map((h) => h.code)).not.toContain("too_quiet");
  });

  it("warns about clipping when peaks hit full scale repeatedly", () => {
    const tracker = new HintTracker();
    const t = feed(tracker, 0, 2, level(-12, 0.5));
    expect(tracker.hints().map((h) => h.code)).not.toContain("clipping");
    feed(tracker, t, 0.2, level(-3, 1));
    expect(tracker.hints()[0]?.code).toBe("clipping");
  });

  it("forgets clipping that is long past", () => {
    const tracker = new HintTracker();
    let t = feed(tracker, 0, 0.2, level(-3, 1));
    t = feed(tracker, t, 3, level(-15, 0.4));
    expect(tracker.hints().map((h) => h.code)).not.toContain("clipping");
  });

  it("says too short until 20 s of speech, then good", () => {
    const tracker = new HintTracker();
    let t = feed(tracker, 0, 10, level(-20));
    const during = tracker.hints();
    expect(during[0]?.code).toBe("too_short");
    expect(during[0]?.message).toMatch(/keep reading/);
    t = feed(tracker, t, 11, level(-20));
    expect(tracker.hints().map((h) => h.code)).toEqual(["good"]);
  });

  it("at the end of a very short take, asks to record again", () => {
    const tracker = new HintTracker();
    feed(tracker, 0, 2, level(-20));
    const [hint] = tracker.hints(true);
    expect(hint?.code).toBe("too_short");
    expect(hint?.tone).toBe("warning");
    expect(hint?.message).toMatch(/Record again/);
  });
});
