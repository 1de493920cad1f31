export interface Debounced<T> {
  (value: T): void;
  /** Runs the pending call now, if any. */
  flush(): void;
  cancel(): void;
}

interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** Calls `fn` with the latest value once calls stop for `ms`. */
export function debounce<T>(
  fn: (value: T) => void,
  ms: number,
  timers: Timers = realTimers,
): Debounced<T> {
  let timer: unknown = null;
  let pending: { value: T } | null = null;
  const run = () => {
    timer = null;
    if (pending) {
      const { value } = pending;
      pending = null;
      fn(value);
    }
  };
  const debounced = ((value: T) => {
    pending = { value };
    if (timer !== null) timers.clearTimeout(timer);
    timer = timers.setTimeout(run, ms);
  }) as Debounced<T>;
  debounced.flush = () => {
    if (timer !== null) timers.clearTimeout(timer);
    run();
  };
  debounced.cancel = () => {
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
    pending = null;
  };
  return debounced;
}
