import { VoicePicker } from "@/features/voices/components/VoicePicker";
import {
  SLEEP_TIMER_LABELS,
  SLEEP_TIMERS,
  type SleepTimer,
  useReaderPrefs,
} from "../hooks/use-reader-prefs";
import { SpeedSelect } from "./SpeedSelect";

export function ReaderPreferences() {
  const [prefs, update] = useReaderPrefs();
  return (
    <section className="card" aria-labelledby="reader-prefs-heading">
      <h2 id="reader-prefs-heading">Reader</h2>
      <p className="muted">Saved to your account: the same in every browser you sign in from.</p>
      <div className="form-grid">
        <VoicePicker value={prefs.voiceId} onChange={(voiceId) => update({ voiceId })} />
        <SpeedSelect
          value={prefs.speed}
          onChange={(speed) => update({ speed })}
          testId="settings-speed"
        />
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
        <label className="field">
          <span>Sleep timer</span>
          <select
            value={prefs.sleepTimer}
            data-testid="settings-sleep-timer"
            onChange={(e) => update({ sleepTimer: e.target.value as SleepTimer })}
          >
            {SLEEP_TIMERS.map((value) => (
              <option key={value} value={value}>
                {SLEEP_TIMER_LABELS[value]}
              </option>
            ))}
          </select>
        </label>
      </div>
    </section>
  );
}
