import { describe, expect, it } from "vitest";
import { type TimedWord, textPieces, wordIndexAt } from "./word-highlight";

const TEXT = "In 1851, nobody saw it.";
const WORDS: TimedWord[] = [
  { word: "In", start: 0.1, end: 0.25, offset: 0, heard: true },
  { word: "1851", start: 0.3, end: 1.2, offset: 3, heard: true },
  { word: "nobody", start: 1.5, end: 1.9, offset: 9, heard: true },
  { word: "saw", start: 1.9, end: 2.1, offset: 16, heard: true },
  { word: "it", start: 2.1, end: 2.3, offset: 20, heard: true },
];

describe("wordIndexAt", () => {
  it("is -1 before the first word and without timings", () => {
    expect(wordIndexAt(WORDS, 0)).toBe(-1);
    expect(wordIndexAt(WORDS, 0.099)).toBe(-1);
    expect(wordIndexAt([], 1)).toBe(-1);
  });

  it("moves word by word as the time goes on", () => {
    const times = [0.1, 0.2, 0.3, 1.0, 1.5, 1.95, 2.1, 2.2];
    expect(times.map((t) => wordIndexAt(WORDS, t))).toEqual([0, 0, 1, 1, 2, 3, 4, 4]);
  });

  it("keeps the word just said through a pause and after the last word", () => {
    expect(wordIndexAt(WORDS, 1.3)).toBe(1); // between "1851" and "nobody"
    expect(wordIndexAt(WORDS, 9)).toBe(4);
  });
});

describe("textPieces", () => {
  it("cuts the text into its words and what lies between them", () => {
    const pieces = textPieces(TEXT, WORDS);
    expect(pieces.map((p) => p.text).join("")).toBe(TEXT);
    expect(pieces.filter((p) => p.word !== null).map((p) => [p.text, p.word])).toEqual([
      ["In", 0],
      ["1851", 1],
      ["nobody", 2],
      ["saw", 3],
      ["it", 4],
    ]);
    expect(pieces.at(-1)).toEqual({ text: ".", word: null });
  });

  it("leaves out a timing that does not match the text, keeping the text whole", () => {
    const wrong = [{ ...WORDS[0], offset: 5 } as TimedWord, ...WORDS.slice(1)];
    const pieces = textPieces(TEXT, wrong);
    expect(pieces.map((p) => p.text).join("")).toBe(TEXT);
    expect(pieces.some((p) => p.word === 0)).toBe(false);
  });
});
