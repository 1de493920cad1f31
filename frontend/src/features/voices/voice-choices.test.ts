import { describe, expect, it } from "vitest";
import { MY_VOICE_ID, type Voice, type VoiceList } from "@/lib/models";
import { readyVoices, voiceChoices } from "./voice-choices";

function voice(id: string, status: Voice["status"], isDefault = false): Voice {
  return {
    id,
    name: `Voice ${id}`,
    status,
    is_default: isDefault,
    language: "en",
    error: null,
    can_retry: false,
    created_at: "2026-01-01T00:00:00Z",
    report: null,
  } as Voice;
}

const stock = [
  { voice_id: "stock-amy", name: "Amy", language: "en", engine: "piper" },
  { voice_id: "stock-joe", name: "Joe", language: "en", engine: "piper" },
];
const elevenlabs = [{ voice_id: "21m00Tcm4TlvDq8ikWAM", name: "Rachel" }];

function list(voices: Voice[], stockVoices = stock): VoiceList {
  return { voices, stock: stockVoices, elevenlabs, default_voice_id: null } as VoiceList;
}

describe("voiceChoices", () => {
  it("offers only ready own voices", () => {
    const choices = voiceChoices(
      list([voice("1", "ready", true), voice("2", "processing"), voice("3", "failed")]),
      MY_VOICE_ID,
    );
    expect(choices.own.map((v) => v.id)).toEqual(["1"]);
    expect(choices.hasOwnVoice).toBe(true);
    expect(choices.effective).toBe(MY_VOICE_ID);
    expect(choices.stock).toEqual(stock);
    expect(choices.elevenlabs).toEqual(elevenlabs);
  });

  it("falls back to the first stock voice for 'My voice' without a ready voice", () => {
    const choices = voiceChoices(list([voice("2", "processing")]), MY_VOICE_ID);
    expect(choices.hasOwnVoice).toBe(false);
    expect(choices.effective).toBe("stock-amy");
  });

  it("resolves to nothing when there is neither an own voice nor a stock voice", () => {
    expect(voiceChoices(list([], []), MY_VOICE_ID).effective).toBeNull();
  });

  it("keeps a voice chosen by id, own, stock or ElevenLabs", () => {
    expect(voiceChoices(list([]), "stock-joe").effective).toBe("stock-joe");
    expect(voiceChoices(list([voice("1", "ready")]), "1").effective).toBe("1");
    expect(voiceChoices(list([]), "21m00Tcm4TlvDq8ikWAM").effective).toBe("21m00Tcm4TlvDq8ikWAM");
  });

  it("offers the stock voices the server still lists with the engine down (cached audio)", () => {
    const cachedOnly = [{ voice_id: "stock-joe", name: "Joe", language: "en", engine: "piper" }];
    const choices = voiceChoices(list([], cachedOnly), MY_VOICE_ID);
    expect(choices.stock.map((v) => v.voice_id)).toEqual(["stock-joe"]);
    expect(choices.effective).toBe("stock-joe");
  });

  it("resolves to nothing while the list is loading, and offers nothing", () => {
    const choices = voiceChoices(undefined, MY_VOICE_ID);
    expect(choices).toEqual({
      own: [],
      hasOwnVoice: false,
      stock: [],
      elevenlabs: [],
      effective: null,
    });
  });
});

describe("readyVoices", () => {
  it("keeps ready voices in their order", () => {
    const voices = [voice("a", "ready"), voice("b", "failed"), voice("c", "ready")];
    expect(readyVoices(voices).map((v) => v.id)).toEqual(["a", "c"]);
  });
});
