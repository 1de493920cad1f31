import { describe, expect, it } from "vitest";
import type { BookSummary, Voice } from "@/lib/models";
import { firstRunDone, firstRunSteps, lastListened } from "./first-run";

function book(id: string, updatedAt: string | null): BookSummary {
  return {
    id,
    title: id,
    author: null,
    chapter_count: 1,
    cover_url: null,
    language: "en",
    progress: updatedAt
      ? { chapter_id: "c", sentence_id: "s", fraction: 0.5, updated_at: updatedAt }
      : null,
  };
}

const voice = (status: Voice["status"]) => ({ status }) as Voice;

describe("firstRunSteps", () => {
  it("starts with nothing done", () => {
    const steps = firstRunSteps([], []);
    expect(steps).toEqual({ voice: false, book: false, listened: false });
    expect(firstRunDone(steps)).toBe(false);
  });

  it("counts only a ready voice and a book that was listened to", () => {
    expect(firstRunSteps([voice("processing"), voice("failed")], [book("a", null)])).toEqual({
      voice: false,
      book: true,
      listened: false,
    });
    const steps = firstRunSteps([voice("ready")], [book("a", "2026-11-29T10:00:00Z")]);
    expect(steps).toEqual({ voice: true, book: true, listened: true });
    expect(firstRunDone(steps)).toBe(true);
  });
});

describe("lastListened", () => {
  it("is the book with the newest position, or none", () => {
    expect(lastListened([book("a", null)])).toBeNull();
    const books = [
      book("old", "2026-11-01T10:00:00Z"),
      book("new", "2026-11-29T10:00:00Z"),
      book("never", null),
    ];
    expect(lastListened(books)?.id).toBe("new");
  });
});
