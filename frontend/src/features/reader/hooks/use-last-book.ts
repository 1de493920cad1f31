import { useSyncExternalStore } from "react";

const KEY = "ownvoice.lastBook";
const listeners = new Set<() => void>();

export function rememberLastBook(bookId: string | null): void {
  if (bookId) localStorage.setItem(KEY, bookId);
  else localStorage.removeItem(KEY);
  for (const listener of listeners) listener();
}

/** The book last opened on this device, so "Reader" in the nav goes back to it. */
export function useLastBook(): string | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => localStorage.getItem(KEY),
  );
}
