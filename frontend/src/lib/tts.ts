import { ApiError, api, type RequestOptions } from "@/lib/api-client";
import { pcm16ToFloat32, sampleRateFrom } from "./pcm";

export interface TtsAudio {
  /** Raw audio bytes as returned by the server. */
  bytes: ArrayBuffer;
  contentType: string;
  headers: Headers;
}

/** The app server's error code for "the inference service is not running" (503 + Retry-After). */
export const ENGINE_DOWN_CODE = "inference_unreachable";
/**
 * POSTs one `synthesize` call may make: the first and one retry. This is the only retry layer:
 * the player does not retry a sentence on top (playback-queue.ts), so one failing sentence
 * costs at most this many POSTs.
 */
export const MAX_TTS_ATTEMPTS = 2;
/** A longer Retry-After is cut to this: a listener is waiting for the sentence. */
export const MAX_RETRY_WAIT_SECONDS = 8;
/** The wait before retrying a busy answer (429/503) that names none. */
export const DEFAULT_BUSY_WAIT_SECONDS = 2;

export interface TtsRequest {
  text: string;
  voiceId: string;
  speed?: number;
  language?: string;
  format?: string;
}

export interface TtsDeps {
  send(path: string, options: RequestOptions): Promise<Response>;
  /** Waits `ms`; rejects with an AbortError when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => reject(new DOMException("aborted", "AbortError"));
    if (signal?.aborted) return aborted();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        aborted();
      },
      { once: true },
    );
  });
}

/**
 * How long to wait before trying `error`'s request again, in ms, or null when a retry would not
 * help. A busy queue (429/503) is waited out for its Retry-After (capped); another server error
 * or a connection lost mid-answer is tried again at once. Not retried: the engine not running at
 * all (the player waits for it with back-off, see playback-queue.ts), the server unreachable,
 * the request's own fault (4xx) and aborts.
 */
export function retryDelayMs(error: unknown): number | null {
  if (error instanceof DOMException && error.name === "AbortError") return null;
  if (!(error instanceof ApiError)) return 0; // the answer broke off while being read
  if (error.code === ENGINE_DOWN_CODE || error.status === 0) return null;
  const busy = error.status === 429 || error.status === 503;
  if (!busy && error.status < 500) return null;
  const seconds = error.retryAfterSeconds ?? (busy ? DEFAULT_BUSY_WAIT_SECONDS : 0);
  return Math.min(seconds, MAX_RETRY_WAIT_SECONDS) * 1000;
}

/** POST /api/tts and read the whole clip, retrying once (MAX_TTS_ATTEMPTS) where it helps. */
export function createSynthesize(deps: TtsDeps) {
  return async function synthesize(request: TtsRequest, signal?: AbortSignal): Promise<TtsAudio> {
    const body = { format: "pcm_24000", ...request };
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await deps.send("/api/tts", { json: body, signal });
        return {
          bytes: await response.arrayBuffer(),
          contentType: response.headers.get("Content-Type") ?? "",
          headers: response.headers,
        };
      } catch (error) {
        const wait = retryDelayMs(error);
        if (wait === null || attempt >= MAX_TTS_ATTEMPTS || signal?.aborted) throw error;
        await deps.sleep(wait, signal);
      }
    }
  };
}

export const synthesize = createSynthesize({ send: api.send, sleep });

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
