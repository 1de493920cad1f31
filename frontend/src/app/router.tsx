import { BrowserRouter, Navigate, Route, Routes } from "react-router";
import { Spinner } from "@/components/feedback";
import { LoginPage } from "@/features/auth/components/LoginPage";
import { useSession } from "@/features/auth/hooks/use-session";
import { LibraryPage } from "@/features/library/components/LibraryPage";
import { ReaderPage } from "@/features/reader/components/ReaderPage";
import { SettingsPage } from "@/features/settings/components/SettingsPage";
import { UsersPage } from "@/features/users/components/UsersPage";
import { VoicesPage } from "@/features/voices/components/VoicesPage";
import { AppLayout } from "./AppLayout";

export function AppRouter() {
  const session = useSession();
  if (session.isPending) {
    return (
      <div className="boot">
        <Spinner label="Starting Ownvoice…" />
      </div>
    );
  }
  if (!session.data) return <LoginPage />;
  return (
    <BrowserRouter>
      <Routes>
        <Route element={<AppLayout user={session.data} />}>
          <Route index element={<Navigate to="/library" replace />} />
          <Route path="library" element={<LibraryPage />} />
          <Route path="reader" element={<ReaderPage />} />
          <Route path="reader/:bookId" element={<ReaderPage />} />
          <Route path="voices" element={<VoicesPage />} />
          <Route path="settings" element={<SettingsPage user={session.data} />} />
          <Route path="users" element={<UsersPage user={session.data} />} />
          <Route path="*" element={<Navigate to="/library" replace />} />
        </Route>
      </Routes>
    </BrowserRouter>
  );
}
