import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { debounce } from "./debounce";

describe("debounce", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("calls once with the latest value after calls stop", () => {
    const fn = vi.fn();
    const save = debounce(fn, 1000);
    save(1);
    vi.advanceTimersByTime(500);
    save(2);
    vi.advanceTimersByTime(999);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledExactlyOnceWith(2);
  });

  it("flushes the pending value at once, and only once", () => {
    const fn = vi.fn();
    const save = debounce(fn, 1000);
    save("a");
    save.flush();
    save.flush();
    vi.advanceTimersByTime(2000);
    expect(fn).toHaveBeenCalledExactlyOnceWith("a");
  });

  it("cancels a pending call", () => {
    const fn = vi.fn();
    const save = debounce(fn, 1000);
    save("a");
    save.cancel();
    vi.advanceTimersByTime(2000);
    expect(fn).not.toHaveBeenCalled();
  });
});
