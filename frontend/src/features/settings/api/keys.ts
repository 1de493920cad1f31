import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { ApiKey, ApiKeyCreated } from "@/lib/models";

const keysQueryKey = ["api-keys"] as const;

export function useApiKeys() {
  return useQuery({ queryKey: keysQueryKey, queryFn: () => api.json<ApiKey[]>("/api/keys") });
}

export function useCreateApiKey() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => api.json<ApiKeyCreated>("/api/keys", { json: { name } }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keysQueryKey }),
  });
}

export function useRevokeApiKey() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: ApiKey["id"]) =>
      api.json<void>(`/api/keys/${encodeURIComponent(String(id))}`, { method: "DELETE" }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keysQueryKey }),
  });
}
