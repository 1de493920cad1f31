import { type FormEvent, useState } from "react";
import { ErrorNotice } from "@/components/feedback";
import { useChangePassword } from "../api/account";

export function ChangePassword() {
  const change = useChangePassword();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const mismatch = repeat.length > 0 && next !== repeat;

  function submit(event: FormEvent) {
    event.preventDefault();
    if (mismatch) return;
    change.mutate(
      { current_password: current, new_password: next },
      {
        onSuccess: () => {
          setCurrent("");
          setNext("");
          setRepeat("");
        },
      },
    );
  }

  return (
    <section className="card" aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      <p className="muted">Changing it signs you out everywhere else.</p>
      <form className="form-grid" onSubmit={submit}>
        <label className="field">
          <span>Current password</span>
          <input
            type="password"
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            required
          />
        </label>
        <label className="field">
          <span>New password (at least 8 characters)</span>
          <input
            type="password"
            autoComplete="new-password"
            minLength={8}
            value={next}
            onChange={(e) => setNext(e.target.value)}
            required
          />
        </label>
        <label className="field">
          <span>New password again</span>
          <input
            type="password"
            autoComplete="new-password"
            value={repeat}
            onChange={(e) => setRepeat(e.target.value)}
            aria-invalid={mismatch}
            required
          />
        </label>
        <div>
          <button className="btn btn-primary" type="submit" disabled={change.isPending || mismatch}>
            Change password
          </button>
        </div>
      </form>
      {mismatch && (
        <p className="alert alert-error" role="alert">
          The new passwords differ.
        </p>
      )}
      {change.error && <ErrorNotice error={change.error} />}
      {change.isSuccess && (
        <div className="alert alert-success" role="status">
          Password changed. Other browsers and devices are signed out.
        </div>
      )}
    </section>
  );
}
