import { type FormEvent, useState } from "react";
import { ErrorNotice, Spinner } from "@/components/feedback";
import { formatDate } from "@/lib/format";
import type { ApiKeyCreated } from "@/lib/models";
import { useApiKeys, useCreateApiKey, useRevokeApiKey } from "../api/keys";

function NewKeyBanner({ created, onDone }: { created: ApiKeyCreated; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  }
  return (
    <div className="alert alert-success key-banner" role="status">
      <p>
        <strong>Key “{created.name}” created.</strong> Copy it now — it will not be shown again.
      </p>
      <div className="key-row">
        <code data-testid="new-api-key">{created.key}</code>
        <button type="button" className="btn btn-small" onClick={copy}>
          {copied ? "Copied ✓" : "Copy"}
        </button>
        <button type="button" className="btn btn-ghost btn-small" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

export function ApiKeys() {
  const keys = useApiKeys();
  const create = useCreateApiKey();
  const revoke = useRevokeApiKey();
  const [name, setName] = useState("");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate(name.trim(), {
      onSuccess: (key) => {
        setCreated(key);
        setName("");
      },
    });
  }

  return (
    <section className="card">
      <h2>API keys</h2>
      <p className="muted">
        For programs that speak through Ownvoice: send the key as{" "}
        <code>Authorization: Bearer …</code>, or as <code>xi-api-key</code> to the
        ElevenLabs-compatible routes.
      </p>
      {created && <NewKeyBanner created={created} onDone={() => setCreated(null)} />}
      <form className="inline-form" onSubmit={submit}>
        <input
          aria-label="Key name"
          placeholder="Key name, e.g. “Home Assistant”"
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
          maxLength={100}
        />
        <button className="btn btn-primary" type="submit" disabled={create.isPending}>
          Create key
        </button>
      </form>
      {create.error && <ErrorNotice error={create.error} />}
      {revoke.error && <ErrorNotice error={revoke.error} />}
      {keys.isPending && <Spinner />}
      {keys.error && <ErrorNotice error={keys.error} />}
      {keys.data && keys.data.length === 0 && <p className="muted">No keys yet.</p>}
      {keys.data && keys.data.length > 0 && (
        <div className="table-scroll">
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Key</th>
                <th>Created</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {keys.data.map((key) => (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.prefix}…</code>
                  </td>
                  <td>{formatDate(key.created_at)}</td>
                  <td>{key.last_used_at ? formatDate(key.last_used_at) : "Never"}</td>
                  <td className="right">
                    <button
                      type="button"
                      className="btn btn-danger-ghost btn-small"
                      onClick={() => {
                        if (
                          window.confirm(`Revoke “${key.name}”? Programs using it stop working.`)
                        ) {
                          revoke.mutate(key.id);
                        }
                      }}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
