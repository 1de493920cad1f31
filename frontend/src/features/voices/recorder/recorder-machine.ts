/**
 * The recorder's state machine, independent of React and of the browser.
 *
 *   idle ─start→ requesting ─permission→ countdown (3-2-1) ─→ recording ─stop→ stopping ─→ review
 *     ↑              │ refused                  │ device lost      │ device lost /   (preview)  │
 *     └──────────────┴─────── (error) ──────────┘                  │ max length        ─discard┘
 *                                                                  └──→ stopping → review (error kept)
 *
 * Everything it touches outside itself (permission and microphone, MediaRecorder, the level
 * meter, clock, timers, animation frames, the preview's decoding, the confirm dialog) comes in
 * through `RecorderDeps`, so every transition is unit-tested with fakes; `web-recorder.ts`
 * is the browser's side and `useRecorder` only binds this to React.
 */
import { DEFAULT_THRESHOLDS, type Hint, HintTracker, measureLevel } from "./levels";
import { describeMicError, type MicError, pickRecordingType } from "./microphone";

export type RecorderPhase =
  | "idle"
  | "requesting"
  | "countdown"
  | "recording"
  | "stopping"
  | "review";

export interface Take {
  blob: Blob;
  /** A URL the preview can play, seek in and show the length of. */
  url: string;
  mimeType: string;
  seconds: number;
  speechSeconds: number;
  /** Less speech than the server needs for a voice (the hints say so; Save is still offered). */
  tooShort: boolean;
}

export interface LiveFrame {
  samples: Float32Array;
  dbfs: number;
  peak: number;
}

export interface RecorderState {
  phase: RecorderPhase;
  error: MicError | null;
  /** 3, 2, 1 during the countdown. */
  countdown: number;
  /** Seconds recorded so far (also while stopping). */
  elapsed: number;
  hints: Hint[];
  take: Take | null;
}

/** A microphone track: stopped when released; "ended" when the device goes away. */
export interface MicTrack {
  readonly readyState: "live" | "ended";
  stop(): void;
  addEventListener(type: "ended", listener: () => void): void;
}

export interface MicStream {
  getTracks(): MicTrack[];
}

/** The level meter on the microphone (Web Audio's analyser). */
export interface Meter {
  /** The latest time-domain samples. */
  read(): Float32Array;
  /** The meter's clock in seconds (the hints' time base). */
  time(): number;
  close(): void;
}

/** The subset of MediaRecorder the machine uses. */
export interface RecorderLike {
  readonly state: "inactive" | "recording" | "paused";
  readonly mimeType: string;
  start(timesliceMs: number): void;
  stop(): void;
}

export interface RecorderEvents {
  data(chunk: Blob): void;
  /** The recorder stopped (asked to, or its device went away); all data has arrived. */
  stopped(): void;
}

export interface RecorderDeps {
  /** Why this page cannot record at all (insecure page, no API), or null. */
  checkSupport(): MicError | null;
  /** Asks for the microphone; rejects with the browser's error (NotAllowedError, …). */
  getMicrophone(): Promise<MicStream>;
  openMeter(stream: MicStream): Meter;
  isTypeSupported(mimeType: string): boolean;
  /** Throws when the browser cannot record this stream. `events` hear its data and its end. */
  createRecorder(stream: MicStream, mimeType: string, events: RecorderEvents): RecorderLike;
  /** Milliseconds, monotonic (performance.now). */
  now(): number;
  setInterval(callback: () => void, ms: number): number;
  clearInterval(id: number): void;
  requestFrame(callback: () => void): number;
  cancelFrame(id: number): void;
  /** A seekable preview URL for the take (revoked with revokeUrl). */
  makePreview(blob: Blob): Promise<string>;
  revokeUrl(url: string): void;
  confirm(message: string): boolean;
}

export interface RecorderOptions {
  countdownFrom?: number;
  /** Past a few minutes a take only grows the upload; the clone gains nothing. */
  maxSeconds?: number;
  /** Speech the server needs at the least. */
  minimumSpeechSeconds?: number;
}

export const DEVICE_LOST: MicError = {
  problem: "device_lost",
  message:
    "The microphone stopped (unplugged, or taken by another app). Plug it back in, then record again.",
};

export const DISCARD_QUESTION = "Discard this recording? It has not been saved.";

const TICK_MS = 250;

/** Everything that lives only while the microphone is open. */
interface Session {
  stream: MicStream | null;
  meter: Meter | null;
  recorder: RecorderLike | null;
  tracker: HintTracker;
  startedAt: number;
  frame: number | null;
  timer: number | null;
  /** Set when this session was abandoned: late callbacks from it change nothing. */
  dead: boolean;
}

export class RecorderMachine {
  private readonly deps: RecorderDeps;
  private readonly countdownFrom: number;
  private readonly maxSeconds: number;
  private readonly minimumSpeech: number;
  private current: RecorderState;
  private session: Session | null = null;
  private listeners = new Set<(state: RecorderState) => void>();
  private frameListeners = new Set<(frame: LiveFrame) => void>();

  constructor(deps: RecorderDeps, options: RecorderOptions = {}) {
    this.deps = deps;
    this.countdownFrom = options.countdownFrom ?? 3;
    this.maxSeconds = options.maxSeconds ?? 180;
    this.minimumSpeech = options.minimumSpeechSeconds ?? DEFAULT_THRESHOLDS.minimumSpeechSeconds;
    this.current = {
      phase: "idle",
      error: null,
      countdown: this.countdownFrom,
      elapsed: 0,
      hints: [],
      take: null,
    };
  }

  state(): RecorderState {
    return this.current;
  }

  subscribe(listener: (state: RecorderState) => void): () => void {
    this.listeners.add(listener);
    listener(this.current);
    return () => this.listeners.delete(listener);
  }

  /** Live level frames, every animation frame, without a state change. */
  onFrame(listener: (frame: LiveFrame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  /** Record: ask for the microphone, count down, then record. */
  async start(): Promise<void> {
    if (this.current.phase !== "idle" && this.current.phase !== "review") return;
    const unsupported = this.deps.checkSupport();
    if (unsupported) {
      this.set({ error: unsupported });
      return;
    }
    this.dropTake();
    const session = this.openSession();
    this.set({ phase: "requesting", error: null, hints: [], take: null });
    let stream: MicStream;
    try {
      stream = await this.deps.getMicrophone();
    } catch (error) {
      if (!session.dead) this.fail(describeMicError(error));
      return;
    }
    if (session.dead) {
      for (const track of stream.getTracks()) track.stop(); // closed while asking
      return;
    }
    session.stream = stream;
    for (const track of stream.getTracks()) {
      track.addEventListener("ended", () => this.deviceLost(session));
    }
    try {
      session.meter = this.deps.openMeter(stream);
    } catch (error) {
      this.fail(describeMicError(error));
      return;
    }
    session.frame = this.deps.requestFrame(() => this.analyse(session));
    this.countDown(session);
  }

  /** Stop: during the countdown back to idle; while recording, on to the preview. */
  stop(): void {
    const session = this.session;
    if (!session) return;
    if (this.current.phase === "recording" && session.recorder) {
      this.finish(session);
    } else if (this.current.phase === "requesting" || this.current.phase === "countdown") {
      this.abandon();
      this.set({ phase: "idle" });
    }
  }

  /** Re-record: the take is thrown away and the recorder is ready again. */
  discard(): void {
    if (this.current.phase !== "review") return;
    this.dropTake();
    this.set({ phase: "idle", take: null, hints: [] });
  }

  /**
   * The dialog is being closed (✕ or Escape). A take in progress or unsaved asks first;
   * true when closing may go on (the microphone is then already released).
   */
  requestClose(): boolean {
    const { phase, take } = this.current;
    const unsaved = phase !== "idle" && (phase !== "review" || take !== null);
    if (unsaved && !this.deps.confirm(DISCARD_QUESTION)) return false;
    this.dispose();
    return true;
  }

  dispose(): void {
    this.abandon();
    this.dropTake();
    this.listeners.clear();
    this.frameListeners.clear();
  }

  // ---- transitions -------------------------------------------------------

  private countDown(session: Session): void {
    let remaining = this.countdownFrom;
    this.set({ phase: "countdown", countdown: remaining });
    session.timer = this.deps.setInterval(() => {
      remaining -= 1;
      if (remaining > 0) {
        this.set({ countdown: remaining });
        return;
      }
      this.clearTimer(session);
      this.record(session);
    }, 1000);
  }

  private record(session: Session): void {
    const stream = session.stream;
    if (!stream) return;
    const mimeType = pickRecordingType((type) => this.deps.isTypeSupported(type));
    const chunks: Blob[] = [];
    let recorder: RecorderLike;
    try {
      recorder = this.deps.createRecorder(stream, mimeType, {
        data: (chunk) => {
          if (chunk.size > 0) chunks.push(chunk);
        },
        stopped: () => void this.stopped(session, chunks, recorder.mimeType || mimeType),
      });
    } catch (error) {
      this.fail(describeMicError(error));
      return;
    }
    session.recorder = recorder;
    session.tracker = new HintTracker();
    session.startedAt = this.deps.now();
    recorder.start(1000);
    this.set({ phase: "recording", elapsed: 0 });
    session.timer = this.deps.setInterval(() => this.tick(session), TICK_MS);
  }

  private tick(session: Session): void {
    const elapsed = this.elapsedOf(session);
    this.set({ elapsed, hints: session.tracker.hints() });
    if (elapsed >= this.maxSeconds) this.finish(session);
  }

  /** Ends the take; the recorder's stop event brings the preview. */
  private finish(session: Session): void {
    if (this.current.phase !== "recording") return;
    this.clearTimer(session);
    this.set({ phase: "stopping", elapsed: this.elapsedOf(session) });
    if (session.recorder?.state !== "inactive") session.recorder?.stop();
  }

  private async stopped(session: Session, chunks: Blob[], mimeType: string): Promise<void> {
    if (session.dead) return;
    const type = mimeType || "audio/webm";
    const blob = new Blob(chunks, { type });
    const seconds = this.elapsedOf(session);
    const speechSeconds = session.tracker.speechSeconds();
    // The recorder may stop by itself when its device goes, before the track's "ended" arrives.
    const lost = session.stream?.getTracks().some((track) => track.readyState === "ended");
    if (lost) this.set({ error: DEVICE_LOST });
    this.release(session); // the microphone's light goes off while the preview is made
    this.set({ phase: "stopping", elapsed: seconds, hints: session.tracker.hints(true) });
    const url = await this.deps.makePreview(blob);
    if (session.dead) {
      this.deps.revokeUrl(url); // closed or restarted while the preview was being made
      return;
    }
    this.session = null;
    const tooShort = speechSeconds < this.minimumSpeech;
    const take: Take = { blob, url, mimeType: type, seconds, speechSeconds, tooShort };
    this.set({ phase: "review", take });
  }

  private deviceLost(session: Session): void {
    if (session.dead) return;
    if (this.current.phase === "recording") {
      // Keep what was recorded: the take goes to the preview with the explanation.
      this.set({ error: DEVICE_LOST });
      this.finish(session);
    } else if (this.current.phase === "countdown") {
      this.fail(DEVICE_LOST);
    }
  }

  private fail(error: MicError): void {
    this.abandon();
    this.set({ phase: "idle", error });
  }

  // ---- plumbing ----------------------------------------------------------

  private openSession(): Session {
    this.abandon();
    const session: Session = {
      stream: null,
      meter: null,
      recorder: null,
      tracker: new HintTracker(),
      startedAt: 0,
      frame: null,
      timer: null,
      dead: false,
    };
    this.session = session;
    return session;
  }

  private analyse(session: Session): void {
    if (session.dead || !session.meter) return;
    const samples = session.meter.read();
    const level = measureLevel(samples);
    if (this.current.phase === "recording") session.tracker.push(level, session.meter.time());
    for (const listener of this.frameListeners) {
      listener({ samples, dbfs: level.dbfs, peak: level.peak });
    }
    session.frame = this.deps.requestFrame(() => this.analyse(session));
  }

  private elapsedOf(session: Session): number {
    return (this.deps.now() - session.startedAt) / 1000;
  }

  private clearTimer(session: Session): void {
    if (session.timer !== null) this.deps.clearInterval(session.timer);
    session.timer = null;
  }

  /** Frees the microphone and everything attached to it. */
  private release(session: Session): void {
    if (session.frame !== null) this.deps.cancelFrame(session.frame);
    session.frame = null;
    this.clearTimer(session);
    if (session.recorder && session.recorder.state !== "inactive") session.recorder.stop();
    for (const track of session.stream?.getTracks() ?? []) track.stop();
    session.stream = null;
    session.meter?.close();
    session.meter = null;
  }

  /** Gives up the session in hand: freed, and its late callbacks change nothing. */
  private abandon(): void {
    const session = this.session;
    if (!session) return;
    this.session = null;
    session.dead = true;
    this.release(session);
  }

  /** Revokes the take's URL; the caller's next state change says it is gone. */
  private dropTake(): void {
    if (this.current.take) this.deps.revokeUrl(this.current.take.url);
    this.current = { ...this.current, take: null };
  }

  private set(change: Partial<RecorderState>): void {
    this.current = { ...this.current, ...change };
    for (const listener of this.listeners) listener(this.current);
  }
}
