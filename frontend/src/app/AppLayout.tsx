import { NavLink, Outlet } from "react-router";
import { Logo } from "@/components/Logo";
import { useLogout } from "@/features/auth/hooks/use-session";
import { EngineStatus } from "@/features/health/components/EngineStatus";
import { useLastBook } from "@/features/reader/hooks/use-last-book";
import type { User } from "@/lib/models";

export function AppLayout({ user }: { user: User }) {
  const logout = useLogout();
  const lastBook = useLastBook();
  const links = [
    { to: "/library", label: "Library", icon: "📚" },
    { to: lastBook ? `/reader/${lastBook}` : "/reader", label: "Reader", icon: "📖" },
    { to: "/voices", label: "Voices", icon: "🎙️" },
    { to: "/settings", label: "Settings", icon: "⚙️" },
  ];
  return (
    <div className="app-shell">
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
              <span aria-hidden="true">{link.icon}</span> {link.label}
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
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}
