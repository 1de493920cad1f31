import { ApiKeys } from "./ApiKeys";
import { ReaderPreferences } from "./ReaderPreferences";

export function SettingsPage() {
  return (
    <div className="page">
      <header className="page-header">
        <h1>Settings</h1>
      </header>
      <ReaderPreferences />
      <ApiKeys />
    </div>
  );
}
