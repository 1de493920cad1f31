import { useCallback, useRef, useState } from "react";
import { Icon } from "@/components/Icon";
import { Modal } from "@/components/Modal";
import { formatDuration } from "@/lib/format";
import type { VoiceUploadResponse } from "@/lib/models";
import { useUploadVoice } from "../api/voices";
import { type LiveFrame, useRecorder } from "../hooks/use-recorder";
import { extensionFor } from "../recorder/microphone";
import { consentSentence, READING_PASSAGE } from "../recorder/passage";
import { HearItButton } from "./HearItButton";
import { LiveMeter, type LiveMeterHandle } from "./LiveMeter";
import { QualityReport } from "./QualityReport";

const LANGUAGES = [
  ["en", "English"],
  ["de", "German"],
  ["fr", "French"],
  ["es", "Spanish"],
  ["it", "Italian"],
  ["pt", "Portuguese"],
  ["nl", "Dutch"],
  ["pl", "Polish"],
] as const;

export function LanguageSelect({
  value,
  onChange,
}: {
  value: string;
  onChange: (v: string) => void;
}) {
  return (
    <label className="field">
      <span>Language you will speak</span>
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        {LANGUAGES.map(([code, label]) => (
          <option key={code} value={code}>
            {label}
          </option>
        ))}
      </select>
    </label>
  );
}

function SavedVoice({ result, onClose }: { result: VoiceUploadResponse; onClose: () => void }) {
  return (
    <div className="stack">
      <h3>“{result.voice.name}” is ready</h3>
      <QualityReport report={result.report} />
      <div className="actions">
        <HearItButton voiceId={String(result.voice.id)} language={result.voice.language} />
        <button type="button" className="btn btn-primary" onClick={onClose}>
          Done
        </button>
      </div>
    </div>
  );
}

export function VoiceRecorder({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [language, setLanguage] = useState("en");
  const meterRef = useRef<LiveMeterHandle>(null);
  const onFrame = useCallback((frame: LiveFrame) => meterRef.current?.draw(frame), []);
  const recorder = useRecorder(onFrame);
  const upload = useUploadVoice();
  const nameOk = name.trim().length > 0;

  function save() {
    const take = recorder.take;
    if (!take) return;
    upload.mutate({
      audio: take.blob,
      filename: `recording.${extensionFor(take.mimeType)}`,
      name: name.trim(),
      language,
      consent: "spoken",
    });
  }

  if (upload.data) {
    return (
      <Modal title="Your new voice" onClose={onClose} wide>
        <SavedVoice result={upload.data} onClose={onClose} />
      </Modal>
    );
  }

  const { phase } = recorder;
  const live = phase !== "idle" && phase !== "review";
  const taking = phase === "recording" || phase === "stopping";
  // Closing (✕ or Escape) during a take, or with an unsaved one, asks first.
  const close = () => {
    if (recorder.requestClose()) onClose();
  };
  return (
    <Modal title="Record a voice" onClose={close} wide>
      <div className="recorder">
        {phase === "idle" && (
          <div className="stack">
            <p className="muted">
              Find a quiet room and read the passage aloud in your normal voice, about 30 seconds.
              It ends with a sentence giving your consent.
            </p>
            <div className="form-grid">
              <label className="field">
                <span>Your name (for the consent sentence and the voice)</span>
                <input
                  value={name}
                  onChange={(e) => setName(e.target.value)}
                  placeholder="e.g. Ada Lovelace"
                />
              </label>
              <LanguageSelect value={language} onChange={setLanguage} />
            </div>
          </div>
        )}

        {recorder.error && (
          <div className="alert alert-error" role="alert" data-testid="mic-error">
            {recorder.error.message}
          </div>
        )}

        {live && (
          <div className="record-stage">
            <div className="record-status">
              {phase === "requesting" && <span>Waiting for microphone permission…</span>}
              {phase === "countdown" && (
                <span className="countdown" aria-live="assertive">
                  Starting in <strong data-testid="countdown">{recorder.countdown}</strong>
                </span>
              )}
              {taking && (
                <span className="rec-indicator">
                  <span className="rec-dot" aria-hidden="true" /> Recording{" "}
                  <strong data-testid="elapsed">{formatDuration(recorder.elapsed)}</strong>
                </span>
              )}
            </div>
            <LiveMeter ref={meterRef} />
            <blockquote className="passage" aria-label="Text to read aloud">
              {READING_PASSAGE.map((sentence) => (
                <p key={sentence}>{sentence}</p>
              ))}
              <p className="consent">{consentSentence(name)}</p>
            </blockquote>
          </div>
        )}

        {(taking || phase === "review") && recorder.hints.length > 0 && (
          <ul className="hints" aria-live="polite" data-testid="hints">
            {recorder.hints.map((hint) => (
              <li key={hint.code} className={`hint hint-${hint.tone}`} data-code={hint.code}>
                {hint.message}
              </li>
            ))}
          </ul>
        )}

        {phase === "review" && recorder.take && (
          <div className="stack">
            <p>
              Your take: <strong>{formatDuration(recorder.take.seconds)}</strong>, about{" "}
              {Math.round(recorder.take.speechSeconds)} s of speech. Listen back before saving.
            </p>
            {/* biome-ignore lint/a11y/useMediaCaption: a preview of the user's own recording */}
            <audio
              controls
              preload="metadata"
              src={recorder.take.url}
              className="preview"
              data-testid="preview"
            />
          </div>
        )}

        {upload.error && (
          <div className="alert alert-error" role="alert">
            {upload.error.message} Your recording is kept — you can try saving again or re-record.
          </div>
        )}

        <div className={`actions${phase === "idle" ? "" : " sticky-actions"}`}>
          {phase === "idle" && (
            <button
              type="button"
              className="btn btn-primary"
              onClick={recorder.start}
              disabled={!nameOk}
            >
              <Icon name="mic" /> Record
            </button>
          )}
          {(phase === "countdown" || taking) && (
            <button
              type="button"
              className="btn btn-danger"
              onClick={recorder.stop}
              disabled={phase === "stopping"}
            >
              <Icon name="stop" /> Stop
            </button>
          )}
          {phase === "review" && (
            <>
              <button
                type="button"
                className="btn"
                onClick={recorder.discard}
                disabled={upload.isPending}
              >
                <Icon name="redo" /> Re-record
              </button>
              <button
                type="button"
                className="btn btn-primary"
                onClick={save}
                disabled={upload.isPending || !nameOk}
              >
                {upload.isPending ? "Preparing your voice…" : "Save voice"}
              </button>
            </>
          )}
        </div>
      </div>
    </Modal>
  );
}
