import {
  type ExternalVoice,
  MY_VOICE_ID,
  type StockVoice,
  type Voice,
  type VoiceList,
} from "@/lib/models";

/** The user's own voices that can speak (a voice still processing, or failed, cannot). */
export function readyVoices(voices: readonly Voice[]): Voice[] {
  return voices.filter((voice) => voice.status === "ready");
}

/** What the voice pickers offer, and what the reader's voice setting resolves to. */
export interface VoiceChoices {
  /** Ready own voices, for "Use My Voice" and the "My voices" group. */
  own: Voice[];
  hasOwnVoice: boolean;
  /** Stock voices the server lists (with the engine down, those whose audio is cached). */
  stock: StockVoice[];
  elevenlabs: ExternalVoice[];
  /**
   * The voice the player asks for when `wanted` is chosen: "Use My Voice" with no voice of
   * one's own would fail every sentence, so it falls back to the first stock voice. null while
   * the list is loading, or when there is nothing to fall back to.
   */
  effective: string | null;
}

/** The one place that turns GET /api/voices and the chosen voice into what can be picked. */
export function voiceChoices(list: VoiceList | undefined, wanted: string): VoiceChoices {
  const own = readyVoices(list?.voices ?? []);
  const stock = list?.stock ?? [];
  const hasOwnVoice = own.length > 0;
  let effective: string | null = wanted;
  if (!list) effective = null;
  else if (wanted === MY_VOICE_ID && !hasOwnVoice) effective = stock[0]?.voice_id ?? null;
  return { own, hasOwnVoice, stock, elevenlabs: list?.elevenlabs ?? [], effective };
}
