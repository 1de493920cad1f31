import type { Outage } from "../player/playback-queue";
import "./engine-down-banner.css";

const TITLE: Record<Outage["kind"], string> = {
  engine: "The voice engine stopped — playback resumes when it is back.",
  server: "The Ownvoice server cannot be reached — playback resumes when it is back.",
};

/** Shown while the player waits out an outage; nothing is skipped meanwhile. */
export function EngineDownBanner({ outage }: { outage: Outage }) {
  return (
    <div className="alert alert-warning engine-down-banner" role="alert" data-testid="engine-down">
      <span>
        <strong>{TITLE[outage.kind]}</strong>
        <span className="engine-down-detail">{outage.message}</span>
      </span>
    </div>
  );
}
