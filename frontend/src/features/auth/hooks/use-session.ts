import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { onUnauthorized } from "@/lib/api-client";
import { fetchCurrentUser, login, logout, sessionQueryKey } from "../api/auth";

export function useSession() {
  const queryClient = useQueryClient();
  useEffect(
    () =>
      onUnauthorized(() => {
        // Any call that finds the session gone sends the user back to sign in.
        queryClient.setQueryData(sessionQueryKey, null);
      }),
    [queryClient],
  );
  return useQuery({ queryKey: sessionQueryKey, queryFn: fetchCurrentUser, staleTime: 60_000 });
}

export function useLogin() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ username, password }: { username: string; password: string }) =>
      login(username, password),
    onSuccess: (user) => queryClient.setQueryData(sessionQueryKey, user),
  });
}

export function useLogout() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: logout,
    onSettled: () => {
      queryClient.setQueryData(sessionQueryKey, null);
      // Forget everything the signed-out user had loaded (the session entry itself stays,
      // so the app's session observer sees the change).
      queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== sessionQueryKey[0] });
    },
  });
}
