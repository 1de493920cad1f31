import "./sleep-timer.css";
import { SLEEP_TIMER_LABELS, SLEEP_TIMERS } from "@/features/settings/hooks/use-reader-prefs";
import { formatRemaining, type SleepChoice, type SleepTimerState } from "../player/sleep-timer";

interface SleepTimerControlProps {
  state: SleepTimerState;
  remainingMs: number | null;
  disabled: boolean;
  onChoose: (choice: SleepChoice) => void;
}

/** The player bar's sleep timer: a choice, what is left of it, and a way to cancel it. */
export function SleepTimerControl({
  state,
  remainingMs,
  disabled,
  onChoose,
}: SleepTimerControlProps) {
  const running = state.choice !== "off";
  return (
    <div className="sleep-timer">
      <label className="field">
        <span>Sleep timer</span>
        <select
          value={state.choice}
          onChange={(e) => onChoose(e.target.value as SleepChoice)}
          disabled={disabled}
          aria-label="Sleep timer"
          data-testid="sleep-timer"
        >
          {SLEEP_TIMERS.map((choice) => (
            <option key={choice} value={choice}>
              {SLEEP_TIMER_LABELS[choice]}
            </option>
          ))}
        </select>
      </label>
      {running && (
        <span className="sleep-remaining small muted" data-testid="sleep-remaining">
          {remainingMs === null
            ? "Stops at the end of this chapter"
            : `${state.fading ? "Fading out" : "Stops in"} ${formatRemaining(remainingMs)}`}
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={() => onChoose("off")}
            aria-label="Cancel sleep timer"
            title="Cancel sleep timer"
          >
            ✕
          </button>
        </span>
      )}
    </div>
  );
}
