import { Icon } from "@/components/Icon";
import { MY_VOICE_ID } from "@/lib/models";
import { useVoices } from "../api/voices";
import { voiceChoices } from "../voice-choices";

interface VoicePickerProps {
  value: string;
  onChange: (voiceId: string) => void;
  /** Offered when the user has no voice of their own yet. */
  onRecord?: () => void;
}

export function VoicePicker({ value, onChange, onRecord }: VoicePickerProps) {
  const { data } = useVoices();
  const { own, hasOwnVoice, stock, elevenlabs, effective } = voiceChoices(data, value);
  return (
    <div className="field">
      <label htmlFor="voice-picker">Voice</label>
      <select
        id="voice-picker"
        value={effective ?? value}
        onChange={(e) => onChange(e.target.value)}
      >
        <option value={MY_VOICE_ID} disabled={!hasOwnVoice}>
          Use My Voice{hasOwnVoice ? "" : " (record one first)"}
        </option>
        {own.length > 1 && (
          <optgroup label="My voices">
            {own.map((voice) => (
              <option key={voice.id} value={String(voice.id)}>
                {voice.name}
                {voice.is_default ? " (default)" : ""}
              </option>
            ))}
          </optgroup>
        )}
        {stock.length > 0 && (
          <optgroup label="Stock voices">
            {stock.map((voice) => (
              <option key={voice.voice_id} value={voice.voice_id}>
                {voice.name}
              </option>
            ))}
          </optgroup>
        )}
        {elevenlabs.length > 0 && (
          <optgroup label="ElevenLabs">
            {elevenlabs.map((voice) => (
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
  return voiceChoices(data, value).effective;
}
