import { useState } from "react";
import { EmptyState, ErrorNotice, Spinner } from "@/components/feedback";
import { Icon } from "@/components/Icon";
import { formatDate, formatNumber } from "@/lib/format";
import type { Voice } from "@/lib/models";
import { usePageTitle } from "@/lib/use-page-title";
import { useVoiceActions, useVoices } from "../api/voices";
import { HearItButton } from "./HearItButton";
import { QualityReport } from "./QualityReport";
import { UploadVoiceDialog } from "./UploadVoiceDialog";
import { VoiceRecorder } from "./VoiceRecorder";

const STATUS_LABEL: Record<Voice["status"], string> = {
  processing: "Preparing…",
  ready: "Ready",
  failed: "Failed",
};

function VoiceCard({ voice }: { voice: Voice }) {
  const actions = useVoiceActions();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(voice.name);
  const [showReport, setShowReport] = useState(false);
  const error =
    actions.rename.error ?? actions.setDefault.error ?? actions.retry.error ?? actions.remove.error;

  function saveName() {
    const trimmed = name.trim();
    if (trimmed && trimmed !== voice.name) actions.rename.mutate({ id: voice.id, name: trimmed });
    setEditing(false);
  }

  return (
    <li className="card voice-card" data-testid="voice-card">
      <div className="voice-head">
        {editing ? (
          <form
            className="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              saveName();
            }}
          >
            <input
              aria-label="Voice name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              maxLength={100}
            />
            <button className="btn btn-small btn-primary" type="submit">
              Save
            </button>
          </form>
        ) : (
          <h3>{voice.name}</h3>
        )}
        <span className="badges">
          {voice.is_default && <span className="badge badge-accent">Default</span>}
          <span className={`badge status-${voice.status}`}>{STATUS_LABEL[voice.status]}</span>
        </span>
      </div>
      <p className="muted small">
        {voice.language.toUpperCase()} · added {formatDate(voice.created_at)}
        {voice.report && ` · ${formatNumber(voice.report.speech_seconds, 0, " s")} of speech`}
        {voice.report &&
          voice.report.warnings.length > 0 &&
          ` · ${voice.report.warnings.length} warning(s)`}
      </p>
      {voice.status === "failed" && voice.error && (
        <p className="alert alert-error">
          {voice.error}
          {!voice.can_retry && " Delete this voice and record or upload a new one."}
        </p>
      )}
      {showReport && voice.report && <QualityReport report={voice.report} />}
      {error && <ErrorNotice error={error} />}
      <div className="actions left">
        {voice.status === "failed" && voice.can_retry && (
          <button
            type="button"
            className="btn btn-primary btn-small"
            onClick={() => actions.retry.mutate(voice.id)}
            disabled={actions.retry.isPending}
            title="Prepare this voice again from its recording"
          >
            {actions.retry.isPending ? "Preparing…" : "Retry"}
          </button>
        )}
        {voice.status === "ready" && (
          <HearItButton voiceId={String(voice.id)} language={voice.language} small />
        )}
        {voice.report && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={() => setShowReport(!showReport)}
          >
            {showReport ? "Hide report" : "Report"}
          </button>
        )}
        {!voice.is_default && voice.status === "ready" && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={() => actions.setDefault.mutate(voice.id)}
          >
            Make default
          </button>
        )}
        <button type="button" className="btn btn-ghost btn-small" onClick={() => setEditing(true)}>
          Rename
        </button>
        <button
          type="button"
          className="btn btn-danger-ghost btn-small"
          onClick={() => {
            if (
              window.confirm(`Delete the voice “${voice.name}”? Its recording is removed for good.`)
            ) {
              actions.remove.mutate(voice.id);
            }
          }}
        >
          Delete
        </button>
      </div>
    </li>
  );
}

export function VoicesPage() {
  usePageTitle("Voices");
  const voices = useVoices();
  const [dialog, setDialog] = useState<"record" | "upload" | null>(null);
  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Voices</h1>
          <p className="muted">
            Your cloned voices. The default one is what “Use My Voice” reads with.
          </p>
        </div>
        <div className="actions">
          <button type="button" className="btn" onClick={() => setDialog("upload")}>
            <Icon name="upload" /> Upload a recording
          </button>
          <button type="button" className="btn btn-primary" onClick={() => setDialog("record")}>
            <Icon name="mic" /> Record a voice
          </button>
        </div>
      </header>
      {voices.isPending && <Spinner />}
      {voices.error && <ErrorNotice error={voices.error} />}
      {voices.data && voices.data.voices.length === 0 && (
        <EmptyState title="No voice of your own yet">
          <p>Record about 30 seconds and Ownvoice will read your books in your voice.</p>
          <button type="button" className="btn btn-primary" onClick={() => setDialog("record")}>
            <Icon name="mic" /> Record a voice
          </button>
        </EmptyState>
      )}
      {voices.data && voices.data.voices.length > 0 && (
        <h2 className="section-title">Your voices</h2>
      )}
      {voices.data && voices.data.voices.length > 0 && (
        <ul className="voice-list">
          {voices.data.voices.map((voice) => (
            <VoiceCard key={voice.id} voice={voice} />
          ))}
        </ul>
      )}
      {voices.data && voices.data.stock.length > 0 && (
        <section>
          <h2 className="section-title">Stock voices</h2>
          <ul className="voice-list">
            {voices.data.stock.map((voice) => (
              <li key={voice.voice_id} className="card voice-card">
                <div className="voice-head">
                  <h3>{voice.name}</h3>
                  <span className="badge">Built in</span>
                </div>
                <p className="muted small">
                  {(voice.language ?? "").toUpperCase()} · {voice.engine ?? "local"}
                </p>
                <div className="actions left">
                  <HearItButton voiceId={voice.voice_id} language={voice.language ?? "en"} small />
                </div>
              </li>
            ))}
          </ul>
        </section>
      )}
      {dialog === "record" && <VoiceRecorder onClose={() => setDialog(null)} />}
      {dialog === "upload" && <UploadVoiceDialog onClose={() => setDialog(null)} />}
    </div>
  );
}
