import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { AdminUser } from "@/lib/models";

const usersQueryKey = ["users"] as const;

export function useUsers() {
  return useQuery({ queryKey: usersQueryKey, queryFn: () => api.json<AdminUser[]>("/api/users") });
}

function useUsersMutation<T, R>(mutationFn: (value: T) => Promise<R>) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: usersQueryKey }),
  });
}

export function useCreateUser() {
  return useUsersMutation((body: { username: string; password: string; is_admin: boolean }) =>
    api.json<AdminUser>("/api/users", { json: body }),
  );
}

export function useChangeUser() {
  return useUsersMutation(
    ({ id, ...patch }: { id: string; disabled?: boolean; is_admin?: boolean }) =>
      api.json<AdminUser>(`/api/users/${encodeURIComponent(id)}`, { method: "PATCH", json: patch }),
  );
}

export function useResetPassword() {
  return useUsersMutation(({ id, password }: { id: string; password: string }) =>
    api.json<void>(`/api/users/${encodeURIComponent(id)}/password`, {
      json: { new_password: password },
    }),
  );
}
