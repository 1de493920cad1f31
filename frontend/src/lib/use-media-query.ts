import { useSyncExternalStore } from "react";

/** The width below which the app lays itself out for a phone (the CSS uses the same). */
export const COMPACT_LAYOUT = "(max-width: 860px)";

/** Whether a CSS media query matches now; re-renders when that changes. */
export function useMediaQuery(query: string): boolean {
  return useSyncExternalStore(
    (onChange) => {
      const list = window.matchMedia(query);
      list.addEventListener("change", onChange);
      return () => list.removeEventListener("change", onChange);
    },
    () => window.matchMedia(query).matches,
    () => false,
  );
}
