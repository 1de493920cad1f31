import { useEffect } from "react";
import type { PlaybackQueue } from "../player/playback-queue";

const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);

/** Space = play/pause, ← / → = previous / next sentence, unless typing. */
export function useReaderKeys(queue: PlaybackQueue<AudioBuffer> | null) {
  useEffect(() => {
    if (!queue) return;
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target && (TYPING.has(target.tagName) || target.isContentEditable)) return;
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (document.querySelector("dialog[open]")) return;
      if (event.key === " ") {
        event.preventDefault(); // not a page scroll, nor a click on the focused button
        queue.toggle();
      } else if (event.key === "ArrowRight") {
        event.preventDefault();
        queue.next();
      } else if (event.key === "ArrowLeft") {
        event.preventDefault();
        queue.previous();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [queue]);
}
