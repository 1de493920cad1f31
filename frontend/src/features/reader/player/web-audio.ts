import { synthesize, toAudioBuffer } from "@/lib/tts";
import type { ClipRequest, PlaybackDeps, ScheduledSound, TrackItem } from "./playback-queue";

const FETCH_TIMEOUT_MS = 90_000;

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
      );
      return toAudioBuffer(context, audio);
    },
    now: () => context.currentTime,
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
