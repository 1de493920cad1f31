import { describe, expect, it } from "vitest";
import type { BookQuality, FailedSentence } from "@/features/quality/api/quality";
import { MY_VOICE_ID, type VoiceList } from "@/lib/models";
import {
  etaLabel,
  exportPercent,
  exportProgressLabel,
  exportVoiceOptions,
  failedByChapter,
  sizeLabel,
} from "./export-labels";

describe("export labels", () => {
  it("says how far rendering is, with the server's estimate", () => {
    expect(exportProgressLabel({ status: "queued", done: 0, total: 40, eta_s: null })).toBe(
      "Waiting to start",
    );
    expect(exportProgressLabel({ status: "running", done: 12, total: 40, eta_s: 150 })).toBe(
      "Rendering: 12 of 40 sentences, about 3 min left",
    );
    expect(exportProgressLabel({ status: "running", done: 12, total: 40, eta_s: null })).toBe(
      "Rendering: 12 of 40 sentences",
    );
    expect(exportProgressLabel({ status: "running", done: 40, total: 40, eta_s: null })).toBe(
      "Writing the file",
    );
  });

  it("formats times, sizes and the bar", () => {
    expect(etaLabel(40)).toBe("about 40 s left");
    expect(etaLabel(undefined)).toBe("");
    expect(sizeLabel(1536 * 1024)).toBe("1.5 MB");
    expect(sizeLabel(300)).toBe("1 KB");
    expect(exportPercent({ done: 1, total: 4 })).toBe(25);
    expect(exportPercent({ done: 0, total: 0 })).toBe(100);
  });
});

describe("export choices", () => {
  const list = {
    voices: [
      { id: "v1", name: "Ada", status: "ready", is_default: false },
      { id: "v2", name: "Bo", status: "ready", is_default: true },
      { id: "v3", name: "Cy", status: "processing", is_default: false },
    ],
    stock: [{ voice_id: "stock-joe", name: "Joe" }],
    elevenlabs: [{ voice_id: "el-1", name: "Eleven" }],
  } as unknown as VoiceList;

  it("offers the user's ready voices and the stock voices, not ElevenLabs", () => {
    const { options } = exportVoiceOptions(list, "stock-joe");
    expect(options).toEqual([
      { value: "v1", label: "Ada", group: "My voices" },
      { value: "v2", label: "Bo (default)", group: "My voices" },
      { value: "stock-joe", label: "Joe", group: "Stock voices" },
    ]);
  });

  it("starts at the reader's voice, Use My Voice being the default voice", () => {
    expect(exportVoiceOptions(list, "v1").initial).toBe("v1");
    expect(exportVoiceOptions(list, "stock-joe").initial).toBe("stock-joe");
    expect(exportVoiceOptions(list, MY_VOICE_ID).initial).toBe("v2");
    expect(exportVoiceOptions(list, "el-1").initial).toBe("v1"); // not exportable
    expect(exportVoiceOptions(undefined, "v1").initial).toBeNull(); // loading
    const stockOnly = { ...list, voices: [] } as VoiceList;
    expect(exportVoiceOptions(stockOnly, MY_VOICE_ID).initial).toBe("stock-joe");
  });

  it("lists the exported chapters with misread sentences, in book order", () => {
    const chapters = [
      { id: "a", title: "One" },
      { id: "b", title: "Two" },
      { id: "c", title: "Three" },
    ];
    const failed = (n: number) => Array.from({ length: n }, () => ({}) as FailedSentence);
    const quality = {
      chapters: [
        { chapter_id: "c", failed_sentences: failed(1) },
        { chapter_id: "a", failed_sentences: failed(2) },
        { chapter_id: "b", failed_sentences: [] },
      ],
    } as unknown as BookQuality;
    expect(failedByChapter(quality, chapters, null)).toEqual([
      { index: 0, title: "One", count: 2 },
      { index: 2, title: "Three", count: 1 },
    ]);
    expect(failedByChapter(quality, chapters, new Set(["c"]))).toEqual([
      { index: 2, title: "Three", count: 1 },
    ]);
    expect(failedByChapter(undefined, chapters, null)).toEqual([]);
  });
});
