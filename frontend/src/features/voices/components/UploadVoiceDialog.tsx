import { type FormEvent, useState } from "react";
import { Modal } from "@/components/Modal";
import { ACCEPTED_AUDIO, MAX_UPLOAD_BYTES, useUploadVoice } from "../api/voices";
import { HearItButton } from "./HearItButton";
import { QualityReport } from "./QualityReport";
import { LanguageSelect } from "./VoiceRecorder";

export function UploadVoiceDialog({ onClose }: { onClose: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [language, setLanguage] = useState("en");
  const [consent, setConsent] = useState(false);
  const [localError, setLocalError] = useState<string | null>(null);
  const upload = useUploadVoice();

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!file) return;
    if (file.size > MAX_UPLOAD_BYTES) {
      setLocalError("That file is over 25 MB. Trim it to a minute or two of speech and try again.");
      return;
    }
    setLocalError(null);
    upload.mutate({
      audio: file,
      filename: file.name,
      name: name.trim(),
      language,
      consent: "attested",
    });
  }

  return (
    <Modal title={upload.data ? "Your new voice" : "Upload a recording"} onClose={onClose} wide>
      {upload.data ? (
        <div className="stack">
          <h3>“{upload.data.voice.name}” is ready</h3>
          <QualityReport report={upload.data.report} />
          <div className="actions">
            <HearItButton
              voiceId={String(upload.data.voice.id)}
              language={upload.data.voice.language}
            />
            <button type="button" className="btn btn-primary" onClick={onClose}>
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="stack" onSubmit={submit}>
          <p className="muted">
            A clean recording of one speaker, 20 seconds to a few minutes: WAV, MP3, M4A, WebM, OGG
            or FLAC, up to 25 MB.
          </p>
          <label className="field">
            <span>Recording</span>
            <input
              type="file"
              accept={ACCEPTED_AUDIO}
              onChange={(e) => {
                // A new file is a new attempt: the last file's refusal no longer applies.
                setFile(e.target.files?.[0] ?? null);
                setLocalError(null);
                upload.reset();
              }}
              required
              data-testid="voice-file"
            />
          </label>
          <div className="form-grid">
            <label className="field">
              <span>Voice name</span>
              <input
                value={name}
                onChange={(e) => setName(e.target.value)}
                required
                maxLength={100}
              />
            </label>
            <LanguageSelect value={language} onChange={setLanguage} />
          </div>
          <label className="checkbox">
            <input
              type="checkbox"
              checked={consent}
              onChange={(e) => setConsent(e.target.checked)}
              required
            />
            <span>This is my voice, or I have the speaker's permission to clone it.</span>
          </label>
          {(localError || upload.error) && (
            <div className="alert alert-error" role="alert">
              {localError ?? upload.error?.message}
            </div>
          )}
          <div className="actions">
            <button type="button" className="btn btn-ghost" onClick={onClose}>
              Cancel
            </button>
            <button
              className="btn btn-primary"
              type="submit"
              disabled={upload.isPending || !file || !consent}
            >
              {upload.isPending ? "Preparing your voice…" : "Upload and prepare"}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
