import { useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import { env } from "@/lib/env";
import type { Health } from "@/lib/models";

export type EngineState =
  | { kind: "ready"; label: string; detail: string; cloning: boolean }
  | { kind: "loading"; label: string; detail: string }
  | { kind: "unavailable"; label: string; detail: string };

/** Reads /api/health into what the status indicator shows. */
export function engineStateFrom(health: Health | undefined, error: Error | null): EngineState {
  if (error)
    return { kind: "unavailable", label: "Voice engine unavailable", detail: error.message };
  if (!health) return { kind: "loading", label: "Checking voice engine…", detail: "" };
  const inference = health.inference;
  if (inference?.ready) {
    const device = inference.device ? ` · ${inference.device.toUpperCase()}` : "";
    const cloning = inference.cloning_available !== false;
    const detail = cloning
      ? `Cloning and stock voices${device}`
      : `Stock voices only — cloning is off: ${inference.reason ?? "no cloning model"}`;
    return { kind: "ready", label: "Voice engine ready", detail, cloning };
  }
  const reason = inference?.reason ?? "";
  if (inference?.reachable === false) {
    return { kind: "unavailable", label: "Voice engine unavailable", detail: reason };
  }
  if (/load|start|warm/i.test(reason) || !reason) {
    return { kind: "loading", label: "Voice engine loading…", detail: reason || "Starting up." };
  }
  return { kind: "unavailable", label: "Voice engine unavailable", detail: reason };
}

export function useHealth() {
  return useQuery({
    queryKey: ["health"],
    queryFn: () => api.json<Health>("/api/health", { quietUnauthorized: true }),
    refetchInterval: (query) =>
      query.state.data?.inference?.ready ? env.healthPollMs * 3 : env.healthPollMs,
    retry: false,
  });
}
