import { api } from "@/lib/api-client";
import type { User } from "@/lib/models";

export const sessionQueryKey = ["session"] as const;

export async function fetchCurrentUser(): Promise<User | null> {
  try {
    return await api.json<User>("/api/auth/me", { quietUnauthorized: true });
  } catch (error) {
    if ((error as { status?: number }).status === 401) return null;
    throw error;
  }
}

export async function login(username: string, password: string): Promise<User> {
  const result = await api.json<{ user: User }>("/api/auth/login", {
    json: { username, password },
    quietUnauthorized: true,
  });
  return result.user;
}

export async function logout(): Promise<void> {
  await api.json("/api/auth/logout", { method: "POST", quietUnauthorized: true });
}
