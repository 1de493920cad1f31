import { ApiError } from "@/lib/api-client";
import { ENGINE_DOWN_CODE, synthesize, toAudioBuffer } from "@/lib/tts";
import {
  type ClipRequest,
  EngineDownError,
  type PlaybackDeps,
  type ScheduledSound,
  type TrackItem,
} from "./playback-queue";

const FETCH_TIMEOUT_MS = 90_000;

/** "Nobody there to ask" (the engine or the server), as opposed to "this sentence failed". */
export function asEngineDown(error: unknown): unknown {
  if (!(error instanceof ApiError)) return error;
  if (error.code === ENGINE_DOWN_CODE) {
    return new EngineDownError(error.message, "engine", error.retryAfterSeconds);
  }
  if (error.status === 0) return new EngineDownError(error.message, "server");
  return error;
}

/** The browser side of PlaybackDeps: Web Audio for the clock, /api/tts for clips. */
export function createWebAudioDeps(
  language: string,
  loadChapter: (chapterIndex: number) => Promise<TrackItem[] | null>,
): PlaybackDeps<AudioBuffer> & { context: AudioContext; fader: Fader; close(): void } {
  const context = new AudioContext({ latencyHint: "playback" });
  // Every sentence goes through one gain node, so that the sleep timer can fade them all.
  const master = context.createGain();
  master.connect(context.destination);

  return {
    context,
    fader: createFader(context, master),
    async fetchClip(request: ClipRequest) {
      const signal = AbortSignal.any([request.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]);
      const audio = await synthesize(
        { text: request.text, voiceId: request.voiceId, speed: request.speed, language },
        signal,
      ).catch((error: unknown) => {
        throw asEngineDown(error);
      });
      return toAudioBuffer(context, audio);
    },
    now: () => context.currentTime,
    wallClock: () => Date.now(),
    startClip(clip: AudioBuffer, when: number): ScheduledSound {
      const source = context.createBufferSource();
      source.buffer = clip;
      source.connect(master);
      source.start(when);
      return {
        stop: () => {
          try {
            source.stop();
          } catch {
            // already stopped
          }
          source.disconnect();
        },
      };
    },
    suspend: () => context.suspend(),
    resume: () => context.resume(),
    loadChapter,
    close: () => void context.close(),
  };
}

/** Volume control for the sleep timer: a gentle fade out, and back to full for the next Play. */
export interface Fader {
  fadeOut(seconds: number): void;
  /** Full volume again; call it once the audio is paused, or it is heard jumping back. */
  restore(): void;
  /** Resolves once the audio clock is suspended (the player's pause asks for it; asking again is harmless). */
  silent(): Promise<void>;
}

export function createFader(context: BaseAudioContext, master: GainNode): Fader {
  const gain = master.gain;
  return {
    fadeOut(seconds) {
      const now = context.currentTime;
      gain.cancelScheduledValues(now);
      gain.setValueAtTime(gain.value, now);
      // Linear in gain sounds abrupt at the end; an exponential ramp fades the way ears hear.
      gain.exponentialRampToValueAtTime(0.0001, now + seconds);
    },
    restore() {
      const now = context.currentTime;
      gain.cancelScheduledValues(now);
      gain.setValueAtTime(1, now);
    },
    silent: () => (context instanceof AudioContext ? context.suspend() : Promise.resolve()),
  };
}
