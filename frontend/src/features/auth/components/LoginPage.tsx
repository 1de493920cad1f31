import { type FormEvent, useState } from "react";
import { Logo } from "@/components/Logo";
import { usePageTitle } from "@/lib/use-page-title";
import { useLogin } from "../hooks/use-session";

export function LoginPage() {
  const [username, setUsername] = useState("admin");
  const [password, setPassword] = useState("");
  const loginMutation = useLogin();
  usePageTitle("Sign in");

  function submit(event: FormEvent) {
    event.preventDefault();
    loginMutation.mutate({ username: username.trim(), password });
  }

  return (
    <main className="login-screen">
      <form className="login-card" onSubmit={submit} aria-labelledby="login-title">
        <Logo size={40} />
        <h1 id="login-title">Sign in to Ownvoice</h1>
        <p className="muted">Your books, read aloud in your own voice.</p>
        <label className="field">
          <span>Username</span>
          <input
            name="username"
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            required
          />
        </label>
        <label className="field">
          <span>Password</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            // biome-ignore lint/a11y/noAutofocus: the only thing to do on this page
            autoFocus
          />
        </label>
        {loginMutation.error && (
          <p className="alert alert-error" role="alert">
            {loginMutation.error.message}
          </p>
        )}
        <button
          className="btn btn-primary btn-block"
          type="submit"
          disabled={loginMutation.isPending}
        >
          {loginMutation.isPending ? "Signing in…" : "Sign in"}
        </button>
        <p className="muted small">
          First start? The admin password is the one in <code>OWNVOICE_ADMIN_PASSWORD</code>, or the
          one printed once in the server log.
        </p>
      </form>
    </main>
  );
}
