import { ErrorNotice, Spinner } from "@/components/feedback";
import { formatBytes } from "@/lib/format";
import { useCacheStatus, useClearCache, useIntegrations } from "../api/account";

/** The shared audio cache: how full it is; administrators can empty it. */
export function AudioCacheSection({ isAdmin }: { isAdmin: boolean }) {
  const status = useCacheStatus();
  const clear = useClearCache();
  return (
    <section className="card" aria-labelledby="cache-heading">
      <h2 id="cache-heading">Audio cache</h2>
      <p className="muted">
        Sentences already spoken are kept here, so they play at once next time and during an engine
        outage.
      </p>
      {status.isPending && <Spinner />}
      {status.error && <ErrorNotice error={status.error} />}
      {status.data && (
        <p data-testid="cache-size">
          {formatBytes(status.data.size_bytes)} in {status.data.entries.toLocaleString()} sentences
          {status.data.max_bytes ? ` (limit ${formatBytes(status.data.max_bytes)})` : ""}
        </p>
      )}
      {isAdmin ? (
        <button
          type="button"
          className="btn btn-danger-ghost"
          disabled={clear.isPending || status.data?.entries === 0}
          onClick={() => {
            if (
              window.confirm("Clear the audio cache? Every sentence is rendered again when played.")
            )
              clear.mutate();
          }}
        >
          Clear cache
        </button>
      ) : (
        <p className="muted small">Only an administrator can clear it.</p>
      )}
      {clear.error && <ErrorNotice error={clear.error} />}
    </section>
  );
}

export function IntegrationsSection() {
  const integrations = useIntegrations();
  return (
    <section className="card" aria-labelledby="integrations-heading">
      <h2 id="integrations-heading">ElevenLabs</h2>
      {integrations.isPending && <Spinner />}
      {integrations.error && <ErrorNotice error={integrations.error} />}
      {integrations.data &&
        (integrations.data.elevenlabs_configured ? (
          <p data-testid="elevenlabs-status">
            Configured: ElevenLabs voices appear in the voice picker.
          </p>
        ) : (
          <p data-testid="elevenlabs-status">
            Not configured. To use ElevenLabs voices too, set <code>ELEVENLABS_API_KEY</code> where
            the server runs and restart it. Your own voices never need it.
          </p>
        ))}
    </section>
  );
}
