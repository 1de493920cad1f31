import { useState } from "react";
import { Icon } from "@/components/Icon";
import { speakOnce } from "@/lib/tts";

const TEST_SENTENCE = "Hello! This is my new voice, reading to you from Ownvoice.";

interface HearItButtonProps {
  voiceId: string;
  language?: string;
  small?: boolean;
}

export function HearItButton({ voiceId, language = "en", small = false }: HearItButtonProps) {
  const [state, setState] = useState<"idle" | "loading" | "playing">("idle");
  const [error, setError] = useState<string | null>(null);
  async function hear() {
    setError(null);
    setState("loading");
    try {
      await speakOnce(TEST_SENTENCE, voiceId, language, () => setState("playing"));
    } catch (e) {
      setError(e instanceof Error ? e.message : "Could not play the test sentence.");
    } finally {
      setState("idle");
    }
  }
  return (
    <span className="hear-it">
      <button
        type="button"
        className={`btn${small ? " btn-small" : ""}`}
        onClick={hear}
        disabled={state !== "idle"}
      >
        <Icon name="volume" />
        {state === "idle" ? "Hear it" : state === "loading" ? "Generating…" : "Playing…"}
      </button>
      {error && (
        <span className="error-text" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
