import { api } from "@/lib/api-client";
import { pcm16ToFloat32, sampleRateFrom } from "./pcm";

export interface TtsAudio {
  /** Raw audio bytes as returned by the server. */
  bytes: ArrayBuffer;
  contentType: string;
  headers: Headers;
}

const BUSY_STATUSES = new Set([429, 503]);
/** The app server's error code for "the inference service is not running" (503 + Retry-After). */
export const ENGINE_DOWN_CODE = "inference_unreachable";
const MAX_BUSY_WAIT_SECONDS = 8;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    });
  });
}

/**
 * POST /api/tts and read the whole clip. A busy inference queue (429/503 with
 * Retry-After) is waited out once here, so the player's own retry budget is
 * kept for real failures. An engine that is not running at all is not waited
 * for: the caller hears of it at once (ApiError with code ENGINE_DOWN_CODE).
 */
export async function synthesize(
  request: { text: string; voiceId: string; speed?: number; language?: string; format?: string },
  signal?: AbortSignal,
): Promise<TtsAudio> {
  const body = { format: "pcm_24000", ...request };
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await api.send("/api/tts", { json: body, signal });
      return {
        bytes: await response.arrayBuffer(),
        contentType: response.headers.get("Content-Type") ?? "",
        headers: response.headers,
      };
    } catch (error) {
      const status = (error as { status?: number }).status ?? 0;
      const down = (error as { code?: string }).code === ENGINE_DOWN_CODE;
      if (attempt > 0 || down || !BUSY_STATUSES.has(status)) throw error;
      await sleep(MAX_BUSY_WAIT_SECONDS * 250, signal);
    }
  }
}

/** Converts a /api/tts answer into an AudioBuffer (raw PCM built here, other formats decoded). */
export async function toAudioBuffer(
  context: BaseAudioContext,
  audio: TtsAudio,
): Promise<AudioBuffer> {
  if (/audio\/(l16|pcm)|octet-stream/i.test(audio.contentType) || audio.contentType === "") {
    const samples = pcm16ToFloat32(audio.bytes);
    const buffer = context.createBuffer(
      1,
      Math.max(1, samples.length),
      sampleRateFrom(audio.headers),
    );
    if (samples.length > 0) buffer.copyToChannel(samples, 0);
    return buffer;
  }
  // wav / mp3 / ogg (e.g. passed through from ElevenLabs): let the browser decode.
  return context.decodeAudioData(audio.bytes);
}

/** Speaks `text` once in `voiceId`; resolves when playback ends. */
export async function speakOnce(
  text: string,
  voiceId: string,
  language = "en",
  onPlaying?: () => void,
): Promise<void> {
  const audio = await synthesize({ text, voiceId, language });
  const context = new AudioContext();
  try {
    const buffer = await toAudioBuffer(context, audio);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    await new Promise<void>((resolve) => {
      source.onended = () => resolve();
      source.start();
      onPlaying?.();
    });
  } finally {
    void context.close();
  }
}
