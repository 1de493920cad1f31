import { Icon } from "@/components/Icon";
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
  const { state } = props;
  const voices = useVoices();
  const { hasOwnVoice } = voiceChoices(voices.data, props.voiceValue);
  const active = isActive(state.status);
  const skipped = skippedIn(state.failed, state.current?.chapterIndex);
  return (
    <section className="player-bar" aria-label="Player">
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
      </div>
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
    </section>
  );
}
