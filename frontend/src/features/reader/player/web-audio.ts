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
): PlaybackDeps<AudioBuffer> & { context: AudioContext; close(): void } {
  const context = new AudioContext({ latencyHint: "playback" });

  return {
    context,
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
      source.connect(context.destination);
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
