import { Icon } from "@/components/Icon";
import { MY_VOICE_ID } from "@/lib/models";
import { useVoices } from "../api/voices";

interface VoicePickerProps {
  value: string;
  onChange: (voiceId: string) => void;
  /** Offered when the user has no voice of their own yet. */
  onRecord?: () => void;
}

export function VoicePicker({ value, onChange, onRecord }: VoicePickerProps) {
  const { data } = useVoices();
  const ready = data?.voices.filter((v) => v.status === "ready") ?? [];
  const hasOwnVoice = ready.length > 0;
  const firstStock = data?.stock[0]?.voice_id;
  // "My voice" without a voice would fail every sentence; show the stock voice instead.
  const effective =
    value === MY_VOICE_ID && data && !hasOwnVoice && firstStock ? firstStock : value;
  return (
    <div className="field">
      <label htmlFor="voice-picker">Voice</label>
      <select id="voice-picker" value={effective} onChange={(e) => onChange(e.target.value)}>
        <option value={MY_VOICE_ID} disabled={!hasOwnVoice}>
          Use My Voice{hasOwnVoice ? "" : " (record one first)"}
        </option>
        {ready.length > 1 && (
          <optgroup label="My voices">
            {ready.map((voice) => (
              <option key={voice.id} value={String(voice.id)}>
                {voice.name}
                {voice.is_default ? " (default)" : ""}
              </option>
            ))}
          </optgroup>
        )}
        {data && data.stock.length > 0 && (
          <optgroup label="Stock voices">
            {data.stock.map((voice) => (
              <option key={voice.voice_id} value={voice.voice_id}>
                {voice.name}
              </option>
            ))}
          </optgroup>
        )}
        {data && data.elevenlabs.length > 0 && (
          <optgroup label="ElevenLabs">
            {data.elevenlabs.map((voice) => (
              <option key={voice.voice_id} value={voice.voice_id}>
                {voice.name}
              </option>
            ))}
          </optgroup>
        )}
      </select>
      {data && onRecord && (
        <button type="button" className="btn btn-link" onClick={onRecord}>
          <Icon name="mic" size={15} />
          {hasOwnVoice ? "Record a new voice" : "Record your voice to hear books in it"}
        </button>
      )}
    </div>
  );
}

/** What the picker resolves to, so the player never asks for a voice that doesn't exist. */
export function useEffectiveVoiceId(value: string): string | null {
  const { data } = useVoices();
  if (!data) return null;
  const hasOwnVoice = data.voices.some((v) => v.status === "ready");
  if (value === MY_VOICE_ID && !hasOwnVoice) return data.stock[0]?.voice_id ?? null;
  return value;
}
