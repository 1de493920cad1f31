import { engineStateFrom, useHealth } from "../api/health";

export function EngineStatus() {
  const { data, error } = useHealth();
  const state = engineStateFrom(data, error);
  return (
    <div
      className={`engine-status engine-${state.kind}`}
      role="status"
      aria-live="polite"
      title={state.detail}
    >
      <span className="engine-dot" aria-hidden="true" />
      <span className="engine-text">
        <strong data-testid="engine-status">{state.label}</strong>
        {state.detail && <span className="engine-detail">{state.detail}</span>}
      </span>
    </div>
  );
}
