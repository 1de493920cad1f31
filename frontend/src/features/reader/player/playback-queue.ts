/**
 * Gapless sentence-by-sentence playback, independent of the DOM and network.
 *
 * Why Web Audio with server-side speed: each sentence is fetched as its own
 * audio clip and scheduled on the AudioContext clock to start exactly where
 * the previous one ends, which is sample-accurate and has no gap. A Web Audio
 * playbackRate would change pitch, so speed is instead sent to the server
 * (`speed` on POST /api/tts), whose engines change tempo with pitch preserved.
 * Changing speed refetches the sentences ahead; the cache key includes it.
 *
 * Everything the queue touches outside itself (fetching, decoding, the audio
 * clock, the wall clock, chapter loading) comes in through `PlaybackDeps`, so
 * the logic is unit-tested with fakes.
 *
 * Trouble: a sentence whose fetch fails is skipped (and marked), so one bad
 * sentence never stalls the book. The queue does not retry it: `fetchClip` has
 * already retried where that helps (lib/tts.ts, MAX_TTS_ATTEMPTS), and retrying
 * here too would multiply the requests one sentence costs. The voice engine (or the server) being
 * unreachable is different: `fetchClip` rejects with `EngineDownError`, no
 * sentence is skipped, playback waits at the first sentence it has no audio
 * for (status "waiting", `outage` set) and one probe request at a time retries
 * with back-off (never sooner than the server's Retry-After) until an answer
 * comes; then playback resumes by itself. Audio that does arrive meanwhile
 * (the server's cache answers without the engine) keeps playing.
 */

/** The sentence could not be fetched because the engine or server is not there, not for its own fault. */
export class EngineDownError extends Error {
  readonly kind: OutageKind;
  readonly retryAfterSeconds: number | null;

  constructor(
    message: string,
    kind: OutageKind = "engine",
    retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "EngineDownError";
    this.kind = kind;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** "engine": the inference service is unreachable; "server": the app server itself is. */
export type OutageKind = "engine" | "server";

export interface Outage {
  kind: OutageKind;
  /** The server's explanation (what to start or check). */
  message: string;
}

export interface TrackItem {
  /** Stable sentence id from the book API. */
  sentenceId: string | number;
  chapterIndex: number;
  text: string;
}

export interface DecodedClip {
  duration: number;
}

export interface ScheduledSound {
  stop(): void;
}

export interface ClipRequest {
  text: string;
  voiceId: string;
  speed: number;
  signal: AbortSignal;
}

export interface PlaybackDeps<Clip extends DecodedClip = DecodedClip> {
  /** Fetches and decodes one sentence's audio, retrying transient trouble itself. Rejects on
   * failure: with EngineDownError when the engine or server is unreachable (waited out here),
   * with anything else for this sentence (skipped, not asked again). */
  fetchClip(request: ClipRequest): Promise<Clip>;
  /** The audio clock in seconds (AudioContext.currentTime). Stops while suspended. */
  now(): number;
  /** Wall-clock milliseconds (Date.now), for retry back-off; runs while the audio is suspended. */
  wallClock(): number;
  /** Starts `clip` at clock time `when`. */
  startClip(clip: Clip, when: number): ScheduledSound;
  /** Pauses / resumes the audio clock (AudioContext.suspend / resume). */
  suspend(): Promise<void> | void;
  resume(): Promise<void> | void;
  /** Sentences of chapter `chapterIndex`, or null past the last chapter. */
  loadChapter(chapterIndex: number): Promise<TrackItem[] | null>;
}

/** "waiting": stopped at `current` because the engine is down; it resumes by itself. */
export type PlaybackStatus = "idle" | "buffering" | "playing" | "waiting" | "paused" | "ended";

export interface PlaybackState {
  status: PlaybackStatus;
  /** The sentence being heard (or about to be, while buffering or waiting). */
  current: TrackItem | null;
  /** Keys of sentences that failed and were skipped. */
  failed: ReadonlySet<string>;
  /** Set while the engine (or server) is unreachable and requests are being retried. */
  outage: Outage | null;
}

/** Whether the listener asked for sound (Pause is what the play button offers). */
export function isActive(status: PlaybackStatus): boolean {
  return status === "playing" || status === "buffering" || status === "waiting";
}

export interface PlaybackOptions {
  voiceId: string;
  speed: number;
  /** How many sentences after the current one to fetch ahead. */
  lookahead?: number;
  /** Fetches in flight at once (the inference service has one worker). */
  maxConcurrentFetches?: number;
  /** Lead time when starting from silence, so the first clip is not clipped. */
  startLeadSeconds?: number;
  /** Back-off while the engine is down: the first wait, doubling up to the cap (ms). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

type EntryStatus = "loading" | "ready" | "failed";

interface CacheEntry<Clip> {
  status: EntryStatus;
  clip: Clip | null;
  controller: AbortController | null;
}

interface OutageState<Clip> extends Outage {
  /** Probes that found the engine still down, in a row. */
  attempts: number;
  /** Wall-clock ms before which no probe is sent. */
  retryAt: number;
  /** The one request in flight that decides whether the engine is back. */
  probe: CacheEntry<Clip> | null;
}

interface Scheduled {
  index: number;
  start: number;
  end: number;
  sound: ScheduledSound;
}

export function sentenceKey(item: Pick<TrackItem, "sentenceId" | "chapterIndex">): string {
  return `${item.chapterIndex}:${item.sentenceId}`;
}

/** How many of the skipped sentences (`PlaybackState.failed`) belong to chapter `chapterIndex`. */
export function skippedIn(failed: ReadonlySet<string>, chapterIndex: number | undefined): number {
  if (chapterIndex === undefined) return 0;
  const prefix = `${chapterIndex}:`;
  return [...failed].filter((key) => key.startsWith(prefix)).length;
}

export class PlaybackQueue<Clip extends DecodedClip = DecodedClip> {
  private readonly deps: PlaybackDeps<Clip>;
  private track: TrackItem[] = [];
  private loadedChapters = new Set<number>();
  private lastChapterReached = false;
  private chapterLoading: Promise<void> | null = null;

  private voiceId: string;
  private speed: number;
  private readonly lookahead: number;
  private readonly maxConcurrent: number;
  private readonly startLead: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private outage: OutageState<Clip> | null = null;

  private cache = new Map<string, CacheEntry<Clip>>();
  private failed = new Set<string>();
  private scheduled: Scheduled[] = [];
  /** Index of the next track item to hand to the audio clock. */
  private nextToSchedule = 0;
  /** Index the listener is on when nothing is sounding (buffering / paused before start). */
  private cursor = 0;
  private status: PlaybackStatus = "idle";
  /** Set by the sleep timer's "end of chapter": playback pauses when this chapter runs out. */
  private stopAfterChapter: number | null = null;
  private listeners = new Set<(state: PlaybackState) => void>();
  private lastEmitted = "";
  private disposed = false;

  constructor(deps: PlaybackDeps<Clip>, options: PlaybackOptions) {
    this.deps = deps;
    this.voiceId = options.voiceId;
    this.speed = options.speed;
    this.lookahead = options.lookahead ?? 3;
    this.maxConcurrent = options.maxConcurrentFetches ?? 2;
    this.startLead = options.startLeadSeconds ?? 0.05;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.retryMaxMs = options.retryMaxMs ?? 15_000;
  }

  subscribe(listener: (state: PlaybackState) => void): () => void {
    this.listeners.add(listener);
    listener(this.state());
    return () => this.listeners.delete(listener);
  }

  state(): PlaybackState {
    const outage = this.outage && { kind: this.outage.kind, message: this.outage.message };
    return {
      status: this.status,
      current: this.currentItem(),
      failed: new Set(this.failed),
      outage,
    };
  }

  /** Loads `chapterIndex` and positions at `sentenceId` (or its first sentence). */
  async open(chapterIndex: number, sentenceId?: string | number | null): Promise<void> {
    this.stopScheduled();
    this.track = [];
    this.loadedChapters.clear();
    this.lastChapterReached = false;
    this.chapterLoading = null;
    const items = await this.deps.loadChapter(chapterIndex);
    this.loadedChapters.add(chapterIndex);
    this.track = items ?? [];
    const found = this.track.findIndex((item) => String(item.sentenceId) === String(sentenceId));
    this.cursor = Math.max(0, found);
    this.nextToSchedule = this.cursor;
    this.status = this.track.length === 0 ? "ended" : "idle";
    this.retargetStop();
    this.emit();
  }

  play(): void {
    if (this.disposed || this.track.length === 0) return;
    if (this.status === "ended") {
      void this.restart();
      return;
    }
    void this.deps.resume();
    this.status = "buffering";
    this.probeNow();
    this.tick();
  }

  pause(): void {
    if (isActive(this.status)) {
      this.status = "paused";
      void this.deps.suspend();
      this.emit();
    }
  }

  /** At the end of the book: back to its first sentence (past empty chapters), playing. */
  async restart(): Promise<void> {
    for (let index = 0; ; index++) {
      const items = await this.deps.loadChapter(index);
      if (items === null) return; // a book with no text: nothing to restart
      if (items.length === 0) continue;
      await this.open(index);
      this.play();
      return;
    }
  }

  /**
   * "End of chapter" sleep timer: playback pauses when the chapter being heard runs out
   * instead of crossing into the next (whose first sentence is where Play resumes). A seek or
   * chapter change moves the stop to the new chapter. False cancels.
   */
  setStopAtChapterEnd(on: boolean): void {
    this.stopAfterChapter = on ? (this.currentItem()?.chapterIndex ?? null) : null;
    this.tick();
  }

  stopsAtChapterEnd(): boolean {
    return this.stopAfterChapter !== null;
  }

  toggle(): void {
    if (isActive(this.status)) this.pause();
    else this.play();
  }

  /** Jumps to a sentence of the loaded track; keeps playing if it was. False if not loaded. */
  seekTo(sentenceId: string | number, chapterIndex?: number): boolean {
    const index = this.track.findIndex(
      (item) =>
        String(item.sentenceId) === String(sentenceId) &&
        (chapterIndex === undefined || item.chapterIndex === chapterIndex),
    );
    if (index < 0) return false;
    this.seekIndex(index);
    return true;
  }

  next(): void {
    const index = this.currentIndex();
    if (index + 1 < this.track.length) this.seekIndex(index + 1);
  }

  previous(): void {
    this.seekIndex(Math.max(0, this.currentIndex() - 1));
  }

  /** New voice or speed: audio ahead is refetched, from the current sentence. */
  setVoice(voiceId: string, speed: number): void {
    if (voiceId === this.voiceId && speed === this.speed) return;
    this.voiceId = voiceId;
    this.speed = speed;
    this.failed.clear();
    this.abortAll();
    this.seekIndex(this.currentIndex());
  }

  dispose(): void {
    this.disposed = true;
    this.stopScheduled();
    this.abortAll();
    this.listeners.clear();
  }

  /**
   * Advances the state machine: which sentence is sounding, what to fetch,
   * what to schedule. The driver calls it on a short timer and after every
   * fetch settles; it is cheap and idempotent.
   */
  tick(): void {
    if (this.disposed) return;
    const now = this.deps.now();
    this.scheduled = this.scheduled.filter((s) => s.end > now);
    if (isActive(this.status)) {
      this.ensureChapterAhead();
      this.prefetch();
      this.scheduleReady(now);
      this.updateStatus(now);
    } else if (this.status === "paused") {
      // Keep the next sentences warm so that resuming starts at once. An idle
      // (never started) reader fetches nothing: opening a book costs no audio.
      this.prefetch();
    }
    this.emit();
  }

  // ---- internals ---------------------------------------------------------

  private seekIndex(index: number): void {
    const wasActive = isActive(this.status);
    this.probeNow(); // the listener acted: ask at once rather than at the next back-off step
    this.stopScheduled();
    this.cursor = index;
    this.nextToSchedule = index;
    if (this.status === "ended") this.status = "idle";
    if (wasActive) this.status = "buffering";
    this.retargetStop();
    this.tick();
  }

  private currentIndex(): number {
    const now = this.deps.now();
    const sounding = this.scheduled.find((s) => s.start <= now && now < s.end);
    if (sounding) return sounding.index;
    const first = this.scheduled[0];
    if (first) return first.index;
    return Math.min(this.cursor, Math.max(0, this.track.length - 1));
  }

  /** The server's audio of `sentenceId` changed (regenerated): fetch it again when next heard. */
  forget(sentenceId: string | number): void {
    for (const [key, entry] of this.cache) {
      if (!key.endsWith(`:${sentenceId}`) || entry.status !== "ready") continue;
      this.cache.delete(key);
    }
  }

  /**
   * How far into its own audio the sentence now sounding is, in seconds (what its word timings
   * count from); null when nothing is sounding (buffering, paused before it began, ended).
   */
  soundingPosition(): { item: TrackItem; seconds: number } | null {
    const now = this.deps.now();
    const sounding = this.scheduled.find((s) => s.start <= now && now < s.end);
    const item = sounding ? this.track[sounding.index] : undefined;
    return sounding && item ? { item, seconds: now - sounding.start } : null;
  }

  private currentItem(): TrackItem | null {
    return this.track[this.currentIndex()] ?? null;
  }

  private entryKey(item: TrackItem): string {
    return `${this.voiceId}|${this.speed}|${sentenceKey(item)}`;
  }

  private prefetch(): void {
    const from = this.currentIndex();
    const until = Math.min(this.track.length - 1, from + this.lookahead);
    if (this.outage) {
      this.probe(from, until);
      this.evictBehind(from);
      return;
    }
    let inFlight = [...this.cache.values()].filter((e) => e.status === "loading").length;
    for (let i = from; i <= until && inFlight < this.maxConcurrent; i++) {
      const item = this.track[i];
      if (!item || this.failed.has(sentenceKey(item))) continue;
      const entry = this.cache.get(this.entryKey(item));
      if (entry) continue;
      this.fetchEntry(item);
      inFlight++;
    }
    this.evictBehind(from);
  }

  /** While the engine is down: one request at a time, for the first sentence not in hand. */
  private probe(from: number, until: number): void {
    const outage = this.outage;
    if (!outage || this.deps.wallClock() < outage.retryAt) return;
    if (outage.probe && [...this.cache.values()].includes(outage.probe)) return; // in flight
    for (let i = from; i <= until; i++) {
      const item = this.track[i];
      if (!item || this.failed.has(sentenceKey(item))) continue;
      if (this.cache.has(this.entryKey(item))) continue;
      outage.probe = this.fetchEntry(item);
      return;
    }
  }

  private probeNow(): void {
    if (this.outage) this.outage.retryAt = 0;
  }

  private engineDown(error: EngineDownError, entry: CacheEntry<Clip>): void {
    const outage = this.outage;
    if (outage && outage.probe !== entry) return; // an older request: the probe decides
    const attempts = (outage?.attempts ?? 0) + 1;
    const backoff = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempts - 1));
    const wait = Math.max(backoff, (error.retryAfterSeconds ?? 0) * 1000);
    this.outage = {
      kind: error.kind,
      message: error.message,
      attempts,
      retryAt: this.deps.wallClock() + wait,
      probe: null,
    };
  }

  private settled(entry: CacheEntry<Clip>): void {
    // The probe got an answer that is not "down": the engine is back.
    if (this.outage?.probe === entry) this.outage = null;
  }

  private fetchEntry(item: TrackItem): CacheEntry<Clip> {
    const key = this.entryKey(item);
    const controller = new AbortController();
    const entry: CacheEntry<Clip> = {
      status: "loading",
      clip: null,
      controller,
    };
    this.cache.set(key, entry);
    this.deps
      .fetchClip({
        text: item.text,
        voiceId: this.voiceId,
        speed: this.speed,
        signal: controller.signal,
      })
      .then(
        (clip) => {
          if (this.cache.get(key) !== entry) return;
          this.settled(entry);
          entry.status = "ready";
          entry.clip = clip;
          entry.controller = null;
        },
        (error: unknown) => {
          if (this.cache.get(key) !== entry || controller.signal.aborted) return;
          if (error instanceof EngineDownError) {
            // Not this sentence's fault: forget the attempt, wait, ask again.
            this.cache.delete(key);
            this.engineDown(error, entry);
            return;
          }
          this.settled(entry);
          entry.status = "failed";
          entry.controller = null;
          this.failed.add(sentenceKey(item));
        },
      )
      .finally(() => this.tick());
    return entry;
  }

  private scheduleReady(now: number): void {
    // Keep at most the sounding clip plus two queued on the clock; the rest
    // waits in the cache so that seeking and pausing stay cheap.
    while (this.nextToSchedule < this.track.length && this.scheduled.length < 3) {
      const item = this.track[this.nextToSchedule];
      if (!item || this.beyondStop(item)) break;
      if (this.failed.has(sentenceKey(item))) {
        this.nextToSchedule++; // skip, never stall the book
        if (this.scheduled.length === 0) this.cursor = this.nextToSchedule;
        continue;
      }
      const entry = this.cache.get(this.entryKey(item));
      if (entry?.status !== "ready" || !entry.clip) break;
      const last = this.scheduled[this.scheduled.length - 1];
      const start = last ? Math.max(last.end, now) : now + this.startLead;
      const sound = this.deps.startClip(entry.clip, start);
      this.scheduled.push({
        index: this.nextToSchedule,
        start,
        end: start + entry.clip.duration,
        sound,
      });
      this.nextToSchedule++;
    }
    if (this.scheduled.length === 0) this.cursor = this.nextToSchedule;
  }

  private updateStatus(now: number): void {
    if (this.scheduled.length > 0) {
      const first = this.scheduled[0];
      this.status = first && first.start <= now ? "playing" : "buffering";
      return;
    }
    if (this.nextToSchedule >= this.track.length && this.lastChapterReached) {
      this.status = "ended";
      return;
    }
    const next = this.track[this.nextToSchedule];
    if (next && this.beyondStop(next)) {
      // The chapter the sleep timer waited for has ended: pause at the next one's start.
      this.stopAfterChapter = null;
      this.status = "paused";
      void this.deps.suspend();
      return;
    }
    this.status = this.outage ? "waiting" : "buffering";
  }

  private retargetStop(): void {
    if (this.stopAfterChapter !== null) {
      this.stopAfterChapter = this.currentItem()?.chapterIndex ?? this.stopAfterChapter;
    }
  }

  private beyondStop(item: TrackItem): boolean {
    return this.stopAfterChapter !== null && item.chapterIndex > this.stopAfterChapter;
  }

  private ensureChapterAhead(): void {
    if (this.lastChapterReached || this.chapterLoading) return;
    const remaining = this.track.length - this.currentIndex() - 1;
    if (remaining > this.lookahead) return;
    const lastItem = this.track[this.track.length - 1];
    const nextChapter = lastItem
      ? lastItem.chapterIndex + 1
      : Math.max(0, ...this.loadedChapters) + 1;
    if (this.loadedChapters.has(nextChapter)) return;
    this.chapterLoading = this.appendChapter(nextChapter);
  }

  private async appendChapter(chapterIndex: number): Promise<void> {
    try {
      // Empty chapters (a title page with no text) are passed over.
      let index = chapterIndex;
      for (;;) {
        const items = await this.deps.loadChapter(index);
        this.loadedChapters.add(index);
        if (items === null) {
          this.lastChapterReached = true;
          break;
        }
        if (items.length > 0) {
          this.track = this.track.concat(items);
          break;
        }
        index++;
      }
    } catch {
      // The chapter will be asked for again on a later tick.
      this.loadedChapters.delete(chapterIndex);
    } finally {
      this.chapterLoading = null;
      this.tick();
    }
  }

  private evictBehind(from: number): void {
    const keep = new Set<string>();
    for (
      let i = Math.max(0, from - 1);
      i <= Math.min(this.track.length - 1, from + this.lookahead);
      i++
    ) {
      const item = this.track[i];
      if (item) keep.add(this.entryKey(item));
    }
    for (const [key, entry] of this.cache) {
      if (keep.has(key)) continue;
      entry.controller?.abort(); // a seek moved away: stop generating audio nobody will hear
      this.cache.delete(key);
    }
  }

  private stopScheduled(): void {
    for (const s of this.scheduled) s.sound.stop();
    this.scheduled = [];
  }

  private abortAll(): void {
    for (const entry of this.cache.values()) entry.controller?.abort();
    this.cache.clear();
  }

  private emit(): void {
    const state = this.state();
    const signature = [
      state.status,
      state.current ? sentenceKey(state.current) : "",
      [...state.failed].join(","),
      state.outage ? `${state.outage.kind}:${state.outage.message}` : "",
    ].join("|");
    if (signature === this.lastEmitted) return;
    this.lastEmitted = signature;
    for (const listener of this.listeners) listener(state);
  }
}
