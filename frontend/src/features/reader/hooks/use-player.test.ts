import { describe, expect, it } from "vitest";
import type { Chapter, ChapterSummary } from "@/lib/models";
import { startFrom, trackItemsOf } from "./use-player";

const summary = (id: string, index: number): ChapterSummary => ({
  id,
  index,
  title: id,
  front_matter: false,
  sentence_count: 1,
});

describe("startFrom", () => {
  const book = { chapters: [summary("c1", 0), summary("c2", 1)] };

  it("opens at the saved chapter and sentence", () => {
    expect(startFrom(book, { chapter_id: "c2", sentence_id: "s9" })).toEqual({
      chapterIndex: 1,
      sentenceId: "s9",
    });
  });

  it("falls back to the first chapter for no or stale progress", () => {
    expect(startFrom(book, null)).toEqual({ chapterIndex: 0, sentenceId: null });
    expect(startFrom(book, { chapter_id: "gone", sentence_id: "s1" })).toEqual({
      chapterIndex: 0,
      sentenceId: null,
    });
  });
});

describe("trackItemsOf", () => {
  it("flattens paragraphs in order and drops empty sentences", () => {
    const chapter: Chapter = {
      id: "c1",
      index: 0,
      title: "One",
      front_matter: false,
      next_chapter_id: null,
      prev_chapter_id: null,
      paragraphs: [
        {
          id: "p1",
          sentences: [
            { id: "s1", text: "Hello." },
            { id: "s2", text: "  " },
          ],
        },
        { id: "p2", sentences: [{ id: "s3", text: "Bye." }] },
      ],
    };
    expect(trackItemsOf(chapter, 4)).toEqual([
      { sentenceId: "s1", chapterIndex: 4, text: "Hello." },
      { sentenceId: "s3", chapterIndex: 4, text: "Bye." },
    ]);
  });
});
