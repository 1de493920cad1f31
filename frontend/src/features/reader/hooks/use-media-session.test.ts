import { describe, expect, it } from "vitest";
import {
  bindMediaSession,
  type MediaSessionLike,
  mediaMetadataOf,
  playbackStateOf,
} from "./use-media-session";

class FakeSession implements MediaSessionLike {
  playbackState: MediaSessionPlaybackState = "none";
  handlers = new Map<string, (() => void) | null>();
  setActionHandler(action: string, handler: (() => void) | null): void {
    if (action === "previoustrack" && this.refusePrevious) throw new TypeError("unsupported");
    this.handlers.set(action, handler);
  }
  refusePrevious = false;
}

describe("mediaMetadataOf", () => {
  it("shows the book as the title, the chapter and author, and the cover", () => {
    expect(
      mediaMetadataOf(
        { title: "Alice", author: "Lewis Carroll", cover_url: "/api/books/b1/cover" },
        "Down the Rabbit-Hole",
      ),
    ).toEqual({
      title: "Alice",
      artist: "Down the Rabbit-Hole",
      album: "Lewis Carroll",
      artwork: [{ src: "/api/books/b1/cover" }],
    });
  });

  it("leaves out what the book does not have", () => {
    expect(mediaMetadataOf({ title: "A note", author: null, cover_url: null }, null)).toEqual({
      title: "A note",
      artist: "",
      album: "",
      artwork: [],
    });
  });
});

describe("playbackStateOf", () => {
  it("says playing while the listener asked for sound, paused otherwise", () => {
    expect(playbackStateOf("playing")).toBe("playing");
    expect(playbackStateOf("buffering")).toBe("playing");
    expect(playbackStateOf("waiting")).toBe("playing");
    expect(playbackStateOf("paused")).toBe("paused");
    expect(playbackStateOf("ended")).toBe("paused");
    expect(playbackStateOf("idle")).toBe("none");
  });
});

describe("bindMediaSession", () => {
  it("wires play, pause, next and previous (by sentence) to the player, and unwires them", () => {
    const session = new FakeSession();
    const calls: string[] = [];
    const unbind = bindMediaSession(session, {
      play: () => calls.push("play"),
      pause: () => calls.push("pause"),
      next: () => calls.push("next"),
      previous: () => calls.push("previous"),
    });
    for (const action of ["play", "pause", "nexttrack", "previoustrack"]) {
      session.handlers.get(action)?.();
    }
    expect(calls).toEqual(["play", "pause", "next", "previous"]);
    unbind();
    expect([...session.handlers.values()]).toEqual([null, null, null, null]);
  });

  it("keeps the actions a browser knows when it refuses one", () => {
    const session = new FakeSession();
    session.refusePrevious = true;
    const calls: string[] = [];
    bindMediaSession(session, {
      play: () => calls.push("play"),
      pause: () => {},
      next: () => calls.push("next"),
      previous: () => {},
    });
    session.handlers.get("nexttrack")?.();
    expect(calls).toEqual(["next"]);
  });
});
