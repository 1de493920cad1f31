import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { Voice, VoiceList, VoiceUploadResponse } from "@/lib/models";

export const voicesQueryKey = ["voices"] as const;

/** The formats the server accepts; the server checks the real type by content. */
export const ACCEPTED_AUDIO = ".wav,.mp3,.m4a,.webm,.ogg,.oga,.opus,.flac,audio/*";
export const MAX_UPLOAD_BYTES = 25 * 1024 * 1024;

export function useVoices() {
  return useQuery({
    queryKey: voicesQueryKey,
    queryFn: () => api.json<VoiceList>("/api/voices"),
    // A voice being prepared turns ready or failed by itself; keep looking until it does.
    refetchInterval: (query) =>
      query.state.data?.voices.some((v) => v.status === "processing") ? 2000 : false,
  });
}

export interface UploadVoiceInput {
  audio: Blob;
  filename: string;
  name: string;
  language: string;
  /** spoken: recorded here, ending with the consent sentence (the server listens for it);
   * attested: an existing recording whose uploader confirms the speaker's consent. */
  consent: "spoken" | "attested";
}

export function uploadVoice(input: UploadVoiceInput): Promise<VoiceUploadResponse> {
  const form = new FormData();
  form.append("audio", input.audio, input.filename);
  form.append("name", input.name);
  form.append("language", input.language);
  form.append("consent", input.consent);
  return api.json<VoiceUploadResponse>("/api/voice/upload", { form });
}

export function useUploadVoice() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: uploadVoice,
    onSettled: () => queryClient.invalidateQueries({ queryKey: voicesQueryKey }),
  });
}

function voicePath(id: Voice["id"]): string {
  return `/api/voices/${encodeURIComponent(String(id))}`;
}

export function useVoiceActions() {
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: voicesQueryKey });
  return {
    rename: useMutation({
      mutationFn: ({ id, name }: { id: Voice["id"]; name: string }) =>
        api.json<Voice>(voicePath(id), { method: "PATCH", json: { name } }),
      onSettled: refresh,
    }),
    setDefault: useMutation({
      mutationFn: (id: Voice["id"]) =>
        api.json<unknown>(`${voicePath(id)}/default`, { method: "POST" }),
      onSettled: refresh,
    }),
    /** A failed voice whose recording was kept: prepare it again (e.g. the engine was down). */
    retry: useMutation({
      mutationFn: (id: Voice["id"]) =>
        api.json<Voice>(`${voicePath(id)}/retry`, { method: "POST" }),
      onSettled: refresh,
    }),
    remove: useMutation({
      mutationFn: (id: Voice["id"]) => api.json<void>(voicePath(id), { method: "DELETE" }),
      onSettled: refresh,
    }),
  };
}
