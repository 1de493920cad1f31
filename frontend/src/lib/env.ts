/**
 * The parsed build-time environment. Every import.meta.env read happens here,
 * so the rest of the app sees typed, validated values.
 */
export interface AppEnv {
  /** Prefix for API calls; empty means same origin (the backend serves the app). */
  apiBaseUrl: string;
  /** How often the status indicator polls /api/health, in milliseconds. */
  healthPollMs: number;
  mode: string;
}

function positiveInt(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

export function parseEnv(raw: Record<string, string | boolean | undefined>): AppEnv {
  const base = typeof raw.VITE_API_BASE_URL === "string" ? raw.VITE_API_BASE_URL : "";
  return {
    apiBaseUrl: base.replace(/\/+$/, ""),
    healthPollMs: positiveInt(
      raw.VITE_HEALTH_POLL_MS as string | undefined,
      5000,
      "VITE_HEALTH_POLL_MS",
    ),
    mode: typeof raw.MODE === "string" ? raw.MODE : "production",
  };
}

export const env: AppEnv = parseEnv(import.meta.env);
