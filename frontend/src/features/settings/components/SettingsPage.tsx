import type { User } from "@/lib/models";
import { usePageTitle } from "@/lib/use-page-title";
import { ApiKeys } from "./ApiKeys";
import { ChangePassword } from "./ChangePassword";
import { ReaderPreferences } from "./ReaderPreferences";
import { AudioCacheSection, IntegrationsSection } from "./ServerStatus";

export function SettingsPage({ user }: { user: User }) {
  usePageTitle("Settings");
  return (
    <div className="page">
      <header className="page-header">
        <h1>Settings</h1>
      </header>
      <ReaderPreferences />
      <ChangePassword />
      <ApiKeys />
      <AudioCacheSection isAdmin={user.is_admin} />
      <IntegrationsSection />
    </div>
  );
}
