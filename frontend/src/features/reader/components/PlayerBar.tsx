import "./reader-phone.css";
import { useState } from "react";
import { Icon } from "@/components/Icon";
import { Modal } from "@/components/Modal";
import { SpeedSelect } from "@/features/settings/components/SpeedSelect";
import { useVoices } from "@/features/voices/api/voices";
import { VoicePicker } from "@/features/voices/components/VoicePicker";
import { voiceChoices } from "@/features/voices/voice-choices";
import { isActive, type PlaybackState, skippedIn } from "../player/playback-queue";
import { EngineDownBanner } from "./EngineDownBanner";

interface PlayerBarProps {
  state: PlaybackState;
  disabled: boolean;
  noVoice: boolean;
  voiceValue: string;
  speed: number;
  onVoice: (voiceId: string) => void;
  onSpeed: (speed: number) => void;
  onToggle: () => void;
  onPrevious: () => void;
  onNext: () => void;
  onRecord: () => void;
  /** The sleep timer control, shown with the other settings. */
  sleepTimer?: React.ReactNode;
  /** Phone layout: voice, speed and sleep timer move into a sheet opened from the bar. */
  compact?: boolean;
  /** Phone layout: opens the Chapters drawer (the bar is the one thing always in reach). */
  onChapters?: () => void;
  /** What the polite live region says (state changes only, never each sentence). */
  announcement: string;
}

const STATUS_TEXT: Record<PlaybackState["status"], string> = {
  idle: "Ready",
  buffering: "Preparing audio…",
  playing: "Playing",
  waiting: "Waiting for the voice engine…",
  paused: "Paused",
  ended: "The end",
};

export function PlayerBar(props: PlayerBarProps) {
  const { state, compact } = props;
  const [sheetOpen, setSheetOpen] = useState(false);
  const active = isActive(state.status);
  const skipped = skippedIn(state.failed, state.current?.chapterIndex);
  const settings = (
    <PlayerSettings
      {...props}
      onRecord={() => {
        setSheetOpen(false);
        props.onRecord();
      }}
    />
  );
  return (
    <section className={`player-bar${compact ? " player-bar-compact" : ""}`} aria-label="Player">
      {state.outage && <EngineDownBanner outage={state.outage} />}
      <div className="player-controls">
        <button
          type="button"
          className="btn btn-ghost btn-icon"
          onClick={props.onPrevious}
          disabled={props.disabled}
          aria-label="Previous sentence"
          title="Previous sentence (←)"
        >
          <Icon name="previous" />
        </button>
        <button
          type="button"
          className="btn btn-primary btn-play"
          onClick={props.onToggle}
          disabled={props.disabled}
          aria-label={active ? "Pause" : "Play"}
          title={state.status === "ended" ? "Play again from the start" : "Play / pause (space)"}
          data-testid="play-toggle"
        >
          <Icon name={active ? "pause" : "play"} size={22} />
        </button>
        <button
          type="button"
          className="btn btn-ghost btn-icon"
          onClick={props.onNext}
          disabled={props.disabled}
          aria-label="Next sentence"
          title="Next sentence (→)"
        >
          <Icon name="next" />
        </button>
        <span className={`player-status status-${state.status}`} data-testid="player-status">
          {props.noVoice ? "No voice available" : STATUS_TEXT[state.status]}
          {skipped > 0 && ` · ${skipped} skipped`}
        </span>
        {compact && props.onChapters && (
          <button
            type="button"
            className="btn btn-ghost btn-icon"
            aria-haspopup="dialog"
            aria-label="Chapters"
            title="Chapters"
            onClick={props.onChapters}
          >
            <Icon name="list" />
          </button>
        )}
        {compact && (
          <button
            type="button"
            className="btn btn-ghost btn-icon"
            aria-haspopup="dialog"
            aria-label="Voice, speed and sleep timer"
            title="Voice, speed and sleep timer"
            onClick={() => setSheetOpen(true)}
          >
            <Icon name="sliders" />
          </button>
        )}
      </div>
      {!compact && settings}
      {compact && sheetOpen && (
        <Modal title="Player settings" variant="sheet" onClose={() => setSheetOpen(false)}>
          {settings}
        </Modal>
      )}
      <p
        className="visually-hidden"
        role="status"
        aria-live="polite"
        data-testid="player-announcement"
      >
        {props.announcement}
      </p>
    </section>
  );
}

type PlayerSettingsProps = Pick<
  PlayerBarProps,
  "voiceValue" | "speed" | "onVoice" | "onSpeed" | "onRecord" | "sleepTimer"
>;

/** Voice, speed, sleep timer and "record a voice": in the bar on a desktop, in a sheet on a phone. */
function PlayerSettings(props: PlayerSettingsProps) {
  const voices = useVoices();
  const { hasOwnVoice } = voiceChoices(voices.data, props.voiceValue);
  return (
    <div className="player-settings">
      <VoicePicker value={props.voiceValue} onChange={props.onVoice} />
      <SpeedSelect value={props.speed} onChange={props.onSpeed} testId="speed" />
      {props.sleepTimer}
      <button
        type="button"
        className={`btn btn-small ${hasOwnVoice ? "btn-ghost" : "btn-primary"}`}
        onClick={props.onRecord}
        title="Record a voice to read in"
      >
        <Icon name="mic" size={15} />
        {hasOwnVoice ? "New voice" : "Record your voice"}
      </button>
    </div>
  );
}
