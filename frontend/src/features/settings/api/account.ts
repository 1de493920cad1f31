import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { CacheStatus, Integrations } from "@/lib/models";

const cacheQueryKey = ["audio-cache"] as const;

export function useChangePassword() {
  return useMutation({
    mutationFn: (body: { current_password: string; new_password: string }) =>
      api.json<void>("/api/auth/password", { json: body }),
  });
}

export function useCacheStatus() {
  return useQuery({
    queryKey: cacheQueryKey,
    queryFn: () => api.json<CacheStatus>("/api/cache"),
  });
}

export function useClearCache() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => api.json<void>("/api/cache", { method: "DELETE" }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: cacheQueryKey }),
  });
}

export function useIntegrations() {
  return useQuery({
    queryKey: ["integrations"],
    queryFn: () => api.json<Integrations>("/api/integrations"),
    staleTime: 60_000,
  });
}
