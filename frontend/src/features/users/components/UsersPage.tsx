import { type FormEvent, useState } from "react";
import { ErrorNotice, Spinner } from "@/components/feedback";
import { formatDate } from "@/lib/format";
import type { AdminUser, User } from "@/lib/models";
import { usePageTitle } from "@/lib/use-page-title";
import { useChangeUser, useCreateUser, useResetPassword, useUsers } from "../api/users";

function NewUserForm() {
  const create = useCreateUser();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [isAdmin, setIsAdmin] = useState(false);

  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate(
      { username: username.trim(), password, is_admin: isAdmin },
      {
        onSuccess: () => {
          setUsername("");
          setPassword("");
          setIsAdmin(false);
        },
      },
    );
  }

  return (
    <section className="card" aria-labelledby="new-user-heading">
      <h2 id="new-user-heading">Add a user</h2>
      <form className="form-grid" onSubmit={submit}>
        <label className="field">
          <span>Username</span>
          <input
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            pattern="[A-Za-z0-9_.@\-]+"
            title="Letters, digits and _ . @ -"
            maxLength={64}
            autoComplete="off"
            required
          />
        </label>
        <label className="field">
          <span>Password (at least 8 characters)</span>
          <input
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            minLength={8}
            autoComplete="new-password"
            required
          />
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={isAdmin} onChange={(e) => setIsAdmin(e.target.checked)} />
          Administrator
        </label>
        <div>
          <button className="btn btn-primary" type="submit" disabled={create.isPending}>
            Add user
          </button>
        </div>
      </form>
      {create.error && <ErrorNotice error={create.error} />}
      {create.isSuccess && (
        <div className="alert alert-success" role="status">
          User “{create.data.username}” added. Give them their password to sign in.
        </div>
      )}
    </section>
  );
}

function UserRow({ account, isMe }: { account: AdminUser; isMe: boolean }) {
  const change = useChangeUser();
  const reset = useResetPassword();
  const error = change.error ?? reset.error;

  function resetPassword() {
    const password = window.prompt(
      `New password for ${account.username} (at least 8 characters). Their sessions end.`,
    );
    if (password) reset.mutate({ id: account.id, password });
  }

  return (
    <tr data-testid="user-row">
      <td>
        {account.username}
        {isMe && <span className="muted small"> (you)</span>}
      </td>
      <td>{account.is_admin ? "Administrator" : "Reader"}</td>
      <td>{account.disabled ? "Disabled" : "Active"}</td>
      <td>{formatDate(account.created_at)}</td>
      <td className="right">
        <div className="row-actions">
          <button
            type="button"
            className="btn btn-small"
            disabled={change.isPending}
            onClick={() => change.mutate({ id: account.id, disabled: !account.disabled })}
          >
            {account.disabled ? "Enable" : "Disable"}
          </button>
          <button type="button" className="btn btn-ghost btn-small" onClick={resetPassword}>
            Reset password
          </button>
        </div>
        {error && <ErrorNotice error={error} />}
        {reset.isSuccess && (
          <p className="muted small" role="status">
            Password reset.
          </p>
        )}
      </td>
    </tr>
  );
}

export function UsersPage({ user }: { user: User }) {
  usePageTitle("Users");
  const users = useUsers();
  if (!user.is_admin) {
    return (
      <div className="page">
        <h1>Users</h1>
        <p>Only an administrator manages users.</p>
      </div>
    );
  }
  return (
    <div className="page">
      <header className="page-header">
        <h1>Users</h1>
      </header>
      <NewUserForm />
      <section className="card" aria-labelledby="users-heading">
        <h2 id="users-heading">Accounts</h2>
        {users.isPending && <Spinner />}
        {users.error && <ErrorNotice error={users.error} />}
        {users.data && (
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th>Username</th>
                  <th>Role</th>
                  <th>Status</th>
                  <th>Created</th>
                  <th>
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.data.map((account) => (
                  <UserRow key={account.id} account={account} isMe={account.id === user.id} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
