/** Live level measurement and recording hints for the VoiceRecorder. */

export interface Level {
  rms: number;
  peak: number;
  /** RMS in dB relative to full scale; -100 for digital silence. */
  dbfs: number;
}

export function measureLevel(samples: Float32Array): Level {
  let sumSquares = 0;
  let peak = 0;
  for (const sample of samples) {
    sumSquares += sample * sample;
    const magnitude = Math.abs(sample);
    if (magnitude > peak) peak = magnitude;
  }
  const rms = samples.length > 0 ? Math.sqrt(sumSquares / samples.length) : 0;
  const dbfs = rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
  return { rms, peak, dbfs };
}

/** Maps dBFS to 0..1 for a meter: -60 dB is empty, 0 dB full. */
export function meterFraction(dbfs: number): number {
  return Math.min(1, Math.max(0, (dbfs + 60) / 60));
}

export type HintCode = "too_quiet" | "clipping" | "too_short" | "good";

export interface Hint {
  code: HintCode;
  tone: "warning" | "info" | "success";
  message: string;
}

export interface HintThresholds {
  /** Frames louder than this count as speech. */
  speechDbfs: number;
  /** If the loudest frame in the window stays below this, the input is too quiet. */
  quietDbfs: number;
  quietWindowSeconds: number;
  /** A sample this close to full scale counts as clipped. */
  clipPeak: number;
  clipWindowSeconds: number;
  /** Clipped frames within the window that trigger the hint. */
  clipFrames: number;
  /** Speech seconds recommended for a good clone; the server needs at least 3. */
  recommendedSpeechSeconds: number;
  minimumSpeechSeconds: number;
}

export const DEFAULT_THRESHOLDS: HintThresholds = {
  speechDbfs: -45,
  quietDbfs: -40,
  quietWindowSeconds: 2.5,
  clipPeak: 0.99,
  clipWindowSeconds: 1.5,
  clipFrames: 3,
  recommendedSpeechSeconds: 20,
  minimumSpeechSeconds: 3,
};

interface Frame {
  time: number;
  level: Level;
}

/**
 * Follows the level frames of one take and says what the speaker should
 * change, while they can still change it.
 */
export class HintTracker {
  private frames: Frame[] = [];
  private lastTime = 0;
  private speech = 0;
  private startTime: number | null = null;
  private readonly t: HintThresholds;

  constructor(thresholds: HintThresholds = DEFAULT_THRESHOLDS) {
    this.t = thresholds;
  }

  /** Feeds one analyser frame taken at `time` seconds. */
  push(level: Level, time: number): void {
    if (this.startTime === null) this.startTime = time;
    const step = this.frames.length > 0 ? Math.max(0, time - this.lastTime) : 0;
    if (level.dbfs > this.t.speechDbfs) this.speech += step;
    this.lastTime = time;
    this.frames.push({ time, level });
    const horizon = time - Math.max(this.t.quietWindowSeconds, this.t.clipWindowSeconds);
    while (this.frames.length > 0 && (this.frames[0]?.time ?? time) < horizon) this.frames.shift();
  }

  speechSeconds(): number {
    return this.speech;
  }

  /** Hints to show now, most urgent first. `final` = the take has stopped. */
  hints(final = false): Hint[] {
    const hints: Hint[] = [];
    const now = this.lastTime;
    const elapsed = this.startTime === null ? 0 : now - this.startTime;
    const clipped = this.frames.filter(
      (f) => f.time >= now - this.t.clipWindowSeconds && f.level.peak >= this.t.clipPeak,
    ).length;
    if (clipped >= this.t.clipFrames) {
      hints.push({
        code: "clipping",
        tone: "warning",
        message: "Too loud — the sound is clipping. Move a little further from the microphone.",
      });
    }
    const recent = this.frames.filter((f) => f.time >= now - this.t.quietWindowSeconds);
    const loudest = Math.max(-100, ...recent.map((f) => f.level.dbfs));
    if (!final && elapsed >= this.t.quietWindowSeconds && loudest < this.t.quietDbfs) {
      hints.push({
        code: "too_quiet",
        tone: "warning",
        message: "We can barely hear you. Speak up or move closer to the microphone.",
      });
    }
    if (this.speech < this.t.recommendedSpeechSeconds) {
      const have = Math.floor(this.speech);
      const need = this.t.recommendedSpeechSeconds;
      hints.push({
        code: "too_short",
        tone: final && this.speech < this.t.minimumSpeechSeconds ? "warning" : "info",
        message: final
          ? this.speech < this.t.minimumSpeechSeconds
            ? `Only ${have} s of speech was heard — at least ${this.t.minimumSpeechSeconds} s is needed, ${need} s or more for a good voice. Record again.`
            : `Only ${have} s of speech: record at least ${need} s for a better voice.`
          : `${have} s of speech so far — keep reading until at least ${need} s.`,
      });
    } else if (hints.length === 0) {
      hints.push({
        code: "good",
        tone: "success",
        message: "Sounds good — enough speech for a clear voice.",
      });
    }
    return hints;
  }
}
