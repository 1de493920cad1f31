import { VoicePicker } from "@/features/voices/components/VoicePicker";
import { useReaderPrefs } from "../hooks/use-reader-prefs";
import { SpeedSelect } from "./SpeedSelect";

export function ReaderPreferences() {
  const [prefs, update] = useReaderPrefs();
  return (
    <section className="card">
      <h2>Reader</h2>
      <div className="form-grid">
        <VoicePicker value={prefs.voiceId} onChange={(voiceId) => update({ voiceId })} />
        <SpeedSelect value={prefs.speed} onChange={(speed) => update({ speed })} />
        <label className="field">
          <span>Text size</span>
          <input
            type="range"
            min={0.8}
            max={1.6}
            step={0.1}
            value={prefs.fontScale}
            onChange={(e) => update({ fontScale: Number(e.target.value) })}
          />
        </label>
      </div>
    </section>
  );
}
