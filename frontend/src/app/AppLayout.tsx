import { NavLink, Outlet } from "react-router";
import { Icon } from "@/components/Icon";
import { Logo } from "@/components/Logo";
import { useLogout } from "@/features/auth/hooks/use-session";
import { EngineStatus } from "@/features/health/components/EngineStatus";
import { useLastBook } from "@/features/reader/hooks/use-last-book";
import type { User } from "@/lib/models";

export function AppLayout({ user }: { user: User }) {
  const logout = useLogout();
  const lastBook = useLastBook();
  const links = [
    { to: "/library", label: "Library", icon: "library" as const },
    { to: lastBook ? `/reader/${lastBook}` : "/reader", label: "Reader", icon: "book" as const },
    { to: "/voices", label: "Voices", icon: "mic" as const },
    { to: "/settings", label: "Settings", icon: "settings" as const },
    ...(user.is_admin ? [{ to: "/users", label: "Users", icon: "users" as const }] : []),
  ];
  return (
    <div className="app-shell">
      <a className="skip-link" href="#content">
        Skip to content
      </a>
      <aside className="sidebar">
        <div className="brand">
          <Logo />
          <span>Ownvoice</span>
        </div>
        <nav aria-label="Main">
          {links.map((link) => (
            <NavLink
              key={link.label}
              to={link.to}
              className={({ isActive }) => `nav-link${isActive ? " active" : ""}`}
            >
              <Icon name={link.icon} /> {link.label}
            </NavLink>
          ))}
        </nav>
        <div className="sidebar-footer">
          <EngineStatus />
          <div className="user-row">
            <span className="avatar" aria-hidden="true">
              {user.username.slice(0, 1).toUpperCase()}
            </span>
            <span className="user-name">{user.username}</span>
            <button
              type="button"
              className="btn btn-ghost btn-small"
              onClick={() => logout.mutate()}
            >
              Sign out
            </button>
          </div>
        </div>
      </aside>
      <main className="content" id="content" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
