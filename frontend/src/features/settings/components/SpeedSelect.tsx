import { SPEEDS } from "../hooks/use-reader-prefs";

type SpeedSelectProps = {
  value: number;
  onChange: (speed: number) => void;
  testId?: string;
};

/** The reading-speed choices (0.5×–2×, pitch preserved by the server), shared by the player and Settings. */
export function SpeedSelect({ value, onChange, testId }: SpeedSelectProps) {
  return (
    <label className="field">
      <span>Speed</span>
      <select
        value={value}
        onChange={(e) => onChange(Number(e.target.value))}
        aria-label="Speed"
        data-testid={testId}
      >
        {SPEEDS.map((speed) => (
          <option key={speed} value={speed}>
            {speed}×
          </option>
        ))}
      </select>
    </label>
  );
}
