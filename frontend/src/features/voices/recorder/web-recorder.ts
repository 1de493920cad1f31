import { encodeWav } from "@/lib/wav";
import { checkRecordingSupport } from "./microphone";
import type { MicStream, RecorderDeps, RecorderEvents, RecorderLike } from "./recorder-machine";

/**
 * A preview the audio element can show the length of and seek in: MediaRecorder's WebM has no
 * duration in its header (the player shows 0:00 and cannot seek), so the take is decoded once
 * and written as WAV. The upload keeps the original, smaller file.
 */
async function seekablePreview(blob: Blob): Promise<string> {
  const context = new AudioContext();
  try {
    const audio = await context.decodeAudioData(await blob.arrayBuffer());
    const wav = encodeWav(audio.getChannelData(0), audio.sampleRate);
    return URL.createObjectURL(new Blob([wav], { type: "audio/wav" }));
  } catch {
    return URL.createObjectURL(blob);
  } finally {
    void context.close();
  }
}

/** The browser's side of RecorderDeps: getUserMedia, Web Audio's analyser, MediaRecorder. */
export function createBrowserRecorderDeps(): RecorderDeps {
  return {
    checkSupport: () => checkRecordingSupport(window),
    // Raw input: browser noise suppression and gain control smear the voice
    // the clone learns from; the server cleans the recording itself.
    getMicrophone: () =>
      navigator.mediaDevices.getUserMedia({
        audio: {
          echoCancellation: false,
          noiseSuppression: false,
          autoGainControl: false,
          channelCount: 1,
        },
      }),
    openMeter(stream) {
      const context = new AudioContext();
      const analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      context.createMediaStreamSource(stream as MediaStream).connect(analyser);
      return {
        read() {
          const samples = new Float32Array(analyser.fftSize);
          analyser.getFloatTimeDomainData(samples);
          return samples;
        },
        time: () => context.currentTime,
        close: () => void context.close(),
      };
    },
    isTypeSupported: (type) => MediaRecorder.isTypeSupported(type),
    createRecorder(stream: MicStream, mimeType: string, events: RecorderEvents): RecorderLike {
      const recorder = new MediaRecorder(
        stream as MediaStream,
        mimeType ? { mimeType, audioBitsPerSecond: 128_000 } : undefined,
      );
      recorder.ondataavailable = (event) => events.data(event.data);
      recorder.onstop = () => events.stopped();
      return recorder;
    },
    now: () => performance.now(),
    setInterval: (callback, ms) => window.setInterval(callback, ms),
    clearInterval: (id) => window.clearInterval(id),
    requestFrame: (callback) => requestAnimationFrame(callback),
    cancelFrame: (id) => cancelAnimationFrame(id),
    makePreview: seekablePreview,
    revokeUrl: (url) => URL.revokeObjectURL(url),
    confirm: (message) => window.confirm(message),
  };
}
