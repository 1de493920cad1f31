import { useEffect } from "react";
import type { Book } from "@/lib/models";
import type { PlaybackStatus } from "../player/playback-queue";

/**
 * The lock screen and headphone buttons (Media Session API): the book as the title, the
 * chapter as the artist, the author as the album, the cover as the artwork. Next and
 * previous track move by one sentence (like the player bar's buttons and the arrow keys):
 * a headphone double-tap that jumped a whole chapter would lose the listener's place.
 */

export interface MediaControls {
  play(): void;
  pause(): void;
  next(): void;
  previous(): void;
}

type Action = "play" | "pause" | "nexttrack" | "previoustrack";

/** The part of navigator.mediaSession used here, so that tests can hand in a fake. */
export interface MediaSessionLike {
  playbackState: MediaSessionPlaybackState;
  setActionHandler(action: Action, handler: (() => void) | null): void;
}

export interface MetadataInit {
  title: string;
  artist: string;
  album: string;
  artwork: { src: string }[];
}

export function mediaMetadataOf(
  book: Pick<Book, "title" | "author" | "cover_url">,
  chapterTitle: string | null,
): MetadataInit {
  return {
    title: book.title,
    artist: chapterTitle ?? "",
    album: book.author ?? "",
    artwork: book.cover_url ? [{ src: book.cover_url }] : [],
  };
}

export function playbackStateOf(status: PlaybackStatus): MediaSessionPlaybackState {
  if (status === "idle") return "none";
  return status === "playing" || status === "buffering" || status === "waiting"
    ? "playing"
    : "paused";
}

/** Wires the lock screen's buttons to `controls`; returns the undo. */
export function bindMediaSession(session: MediaSessionLike, controls: MediaControls): () => void {
  const handlers: [Action, () => void][] = [
    ["play", () => controls.play()],
    ["pause", () => controls.pause()],
    ["nexttrack", () => controls.next()],
    ["previoustrack", () => controls.previous()],
  ];
  for (const [action, handler] of handlers) {
    try {
      session.setActionHandler(action, handler);
    } catch {
      // A browser that does not know this action: the others still work.
    }
  }
  return () => {
    for (const [action] of handlers) {
      try {
        session.setActionHandler(action, null);
      } catch {
        // as above
      }
    }
  };
}

function browserSession(): (MediaSession & MediaSessionLike) | null {
  return typeof navigator !== "undefined" && "mediaSession" in navigator
    ? navigator.mediaSession
    : null;
}

export function useMediaSession(
  book: Pick<Book, "title" | "author" | "cover_url"> | undefined,
  chapterTitle: string | null,
  status: PlaybackStatus,
  controls: MediaControls | null,
): void {
  const title = book?.title;
  const author = book?.author ?? null;
  const cover = book?.cover_url ?? null;
  useEffect(() => {
    const session = browserSession();
    if (!session || title === undefined || typeof MediaMetadata === "undefined") return;
    session.metadata = new MediaMetadata(
      mediaMetadataOf({ title, author, cover_url: cover }, chapterTitle),
    );
  }, [title, author, cover, chapterTitle]);

  useEffect(() => {
    const session = browserSession();
    if (!session || !controls) return;
    const unbind = bindMediaSession(session, controls);
    return () => {
      unbind();
      session.metadata = null;
      session.playbackState = "none";
    };
  }, [controls]);

  useEffect(() => {
    const session = browserSession();
    if (session) session.playbackState = playbackStateOf(status);
  }, [status]);
}

/** The reader's Media Session: what is playing (book, chapter heard) and the player's buttons. */
export function useListeningSession(
  book: Book | undefined,
  queue: MediaControls | null,
  state: { status: PlaybackStatus; current: { chapterIndex: number } | null },
): void {
  const chapterIndex = state.current?.chapterIndex;
  const chapterTitle =
    chapterIndex === undefined ? null : (book?.chapters[chapterIndex]?.title ?? null);
  useMediaSession(book, chapterTitle, state.status, queue);
}
