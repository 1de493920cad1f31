import { useCallback, useEffect, useRef, useState } from "react";
import { encodeWav } from "@/lib/wav";
import { type Hint, HintTracker, measureLevel } from "../recorder/levels";
import {
  checkRecordingSupport,
  describeMicError,
  type MicError,
  pickRecordingType,
} from "../recorder/microphone";

export type RecorderPhase = "idle" | "requesting" | "countdown" | "recording" | "review";

export interface Take {
  blob: Blob;
  url: string;
  mimeType: string;
  seconds: number;
  speechSeconds: number;
}

export interface LiveFrame {
  samples: Float32Array;
  dbfs: number;
  peak: number;
}

const COUNTDOWN_FROM = 3;

/**
 * A preview the audio element can show the length of and seek in: MediaRecorder's WebM has no
 * duration in its header (the player shows 0:00 and cannot seek), so the take is decoded once
 * and written as WAV. The upload keeps the original, smaller file.
 */
async function seekablePreview(blob: Blob): Promise<string | null> {
  const context = new AudioContext();
  try {
    const audio = await context.decodeAudioData(await blob.arrayBuffer());
    const wav = encodeWav(audio.getChannelData(0), audio.sampleRate);
    return URL.createObjectURL(new Blob([wav], { type: "audio/wav" }));
  } catch {
    return null;
  } finally {
    void context.close();
  }
}
const MAX_TAKE_SECONDS = 180;

/**
 * The microphone side of the recorder: permission, 3-2-1 countdown,
 * MediaRecorder, and a Web Audio analyser feeding the meter, waveform and hints.
 * `onFrame` is called every animation frame without re-rendering React.
 */
export function useRecorder(onFrame: (frame: LiveFrame) => void) {
  const [phase, setPhase] = useState<RecorderPhase>("idle");
  const [error, setError] = useState<MicError | null>(null);
  const [countdown, setCountdown] = useState(COUNTDOWN_FROM);
  const [elapsed, setElapsed] = useState(0);
  const [hints, setHints] = useState<Hint[]>([]);
  const [take, setTake] = useState<Take | null>(null);

  const streamRef = useRef<MediaStream | null>(null);
  const contextRef = useRef<AudioContext | null>(null);
  const analyserRef = useRef<AnalyserNode | null>(null);
  const recorderRef = useRef<MediaRecorder | null>(null);
  const trackerRef = useRef(new HintTracker());
  const frameRef = useRef<number | null>(null);
  const timersRef = useRef<number[]>([]);
  const startedAtRef = useRef(0);
  const onFrameRef = useRef(onFrame);
  onFrameRef.current = onFrame;

  const clearTimers = useCallback(() => {
    for (const id of timersRef.current) window.clearInterval(id);
    timersRef.current = [];
  }, []);

  const releaseMicrophone = useCallback(() => {
    if (frameRef.current !== null) cancelAnimationFrame(frameRef.current);
    frameRef.current = null;
    clearTimers();
    for (const track of streamRef.current?.getTracks() ?? []) track.stop();
    streamRef.current = null;
    void contextRef.current?.close();
    contextRef.current = null;
    analyserRef.current = null;
  }, [clearTimers]);

  useEffect(() => releaseMicrophone, [releaseMicrophone]);
  useEffect(
    () => () => {
      if (take) URL.revokeObjectURL(take.url);
    },
    [take],
  );

  const analyse = useCallback(() => {
    const analyser = analyserRef.current;
    const context = contextRef.current;
    if (!analyser || !context) return;
    const samples = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(samples);
    const level = measureLevel(samples);
    if (recorderRef.current?.state === "recording")
      trackerRef.current.push(level, context.currentTime);
    onFrameRef.current({ samples, dbfs: level.dbfs, peak: level.peak });
    frameRef.current = requestAnimationFrame(analyse);
  }, []);

  const beginRecording = useCallback(() => {
    const stream = streamRef.current;
    if (!stream) return;
    const mimeType = pickRecordingType((type) => MediaRecorder.isTypeSupported(type));
    let recorder: MediaRecorder;
    try {
      recorder = new MediaRecorder(
        stream,
        mimeType ? { mimeType, audioBitsPerSecond: 128_000 } : undefined,
      );
    } catch (e) {
      releaseMicrophone();
      setError(describeMicError(e));
      setPhase("idle");
      return;
    }
    const chunks: Blob[] = [];
    recorder.ondataavailable = (event) => {
      if (event.data.size > 0) chunks.push(event.data);
    };
    recorder.onstop = () => {
      const type = recorder.mimeType || mimeType || "audio/webm";
      const blob = new Blob(chunks, { type });
      const seconds = (performance.now() - startedAtRef.current) / 1000;
      const speechSeconds = trackerRef.current.speechSeconds();
      setHints(trackerRef.current.hints(true));
      releaseMicrophone();
      void seekablePreview(blob).then((preview) => {
        setTake({
          blob,
          url: preview ?? URL.createObjectURL(blob),
          mimeType: type,
          seconds,
          speechSeconds,
        });
        setPhase("review");
      });
    };
    recorderRef.current = recorder;
    trackerRef.current = new HintTracker();
    startedAtRef.current = performance.now();
    recorder.start(1000);
    setElapsed(0);
    setPhase("recording");
    timersRef.current.push(
      window.setInterval(() => {
        const seconds = (performance.now() - startedAtRef.current) / 1000;
        setElapsed(seconds);
        setHints(trackerRef.current.hints());
        // Past a few minutes a take only grows the upload; the clone gains nothing.
        if (seconds >= MAX_TAKE_SECONDS && recorder.state === "recording") recorder.stop();
      }, 250),
    );
  }, [releaseMicrophone]);

  const start = useCallback(async () => {
    setError(null);
    const unsupported = checkRecordingSupport(window);
    if (unsupported) {
      setError(unsupported);
      return;
    }
    setTake(null);
    setPhase("requesting");
    try {
      // Raw input: browser noise suppression and gain control smear the voice
      // the clone learns from; the server cleans the recording itself.
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          echoCancellation: false,
          noiseSuppression: false,
          autoGainControl: false,
          channelCount: 1,
        },
      });
      streamRef.current = stream;
      const context = new AudioContext();
      const analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      context.createMediaStreamSource(stream).connect(analyser);
      contextRef.current = context;
      analyserRef.current = analyser;
      frameRef.current = requestAnimationFrame(analyse);
    } catch (e) {
      releaseMicrophone();
      setError(describeMicError(e));
      setPhase("idle");
      return;
    }
    setCountdown(COUNTDOWN_FROM);
    setPhase("countdown");
    let remaining = COUNTDOWN_FROM;
    const id = window.setInterval(() => {
      remaining -= 1;
      if (remaining > 0) {
        setCountdown(remaining);
        return;
      }
      window.clearInterval(id);
      timersRef.current = timersRef.current.filter((t) => t !== id);
      beginRecording();
    }, 1000);
    timersRef.current.push(id);
  }, [analyse, beginRecording, releaseMicrophone]);

  const stop = useCallback(() => {
    clearTimers();
    const recorder = recorderRef.current;
    if (recorder && recorder.state !== "inactive") recorder.stop();
    else {
      releaseMicrophone();
      setPhase("idle");
    }
  }, [clearTimers, releaseMicrophone]);

  const discard = useCallback(() => {
    setTake(null);
    setHints([]);
    setPhase("idle");
  }, []);

  return { phase, error, countdown, elapsed, hints, take, start, stop, discard };
}
