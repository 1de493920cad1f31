import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "@/lib/api-client";
import type { Book, BookSummary, Chapter, Progress, ProgressUpdate } from "@/lib/models";

export const booksQueryKey = ["books"] as const;
export const ACCEPTED_BOOKS = ".epub,.txt,application/epub+zip,text/plain";
export const MAX_BOOK_BYTES = 50 * 1024 * 1024;

const bookPath = (bookId: string) => `/api/books/${encodeURIComponent(bookId)}`;

/** The list answers either a bare array or {books: [...]}; accept both. */
function unwrapList(data: BookSummary[] | { books: BookSummary[] }): BookSummary[] {
  return Array.isArray(data) ? data : data.books;
}

export function useBooks() {
  return useQuery({
    queryKey: booksQueryKey,
    queryFn: async () =>
      unwrapList(await api.json<BookSummary[] | { books: BookSummary[] }>("/api/books")),
  });
}

export function useBook(bookId: string | undefined) {
  return useQuery({
    queryKey: ["book", bookId],
    queryFn: () => api.json<Book>(bookPath(bookId ?? "")),
    enabled: Boolean(bookId),
  });
}

export function fetchChapter(bookId: string, chapterId: Chapter["id"]): Promise<Chapter> {
  return api.json<Chapter>(`${bookPath(bookId)}/chapters/${encodeURIComponent(String(chapterId))}`);
}

/** The saved position, or where reading starts (after front matter) when none is saved. */
export function fetchProgress(bookId: string): Promise<Progress> {
  return api.json<Progress>(`${bookPath(bookId)}/progress`);
}

export function saveProgress(bookId: string, progress: ProgressUpdate): Promise<unknown> {
  return api.json(`${bookPath(bookId)}/progress`, {
    method: "PUT",
    json: progress,
    keepalive: true,
  });
}

export type NewBook =
  | { kind: "file"; file: File }
  | { kind: "text"; title: string; text: string; language: string };

export function useAddBook() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: NewBook) => {
      if (input.kind === "file") {
        const form = new FormData();
        form.append("file", input.file, input.file.name);
        return api.json<Book>("/api/books", { form });
      }
      return api.json<Book>("/api/books", {
        json: { title: input.title, text: input.text, language: input.language },
      });
    },
    onSuccess: () => queryClient.invalidateQueries({ queryKey: booksQueryKey }),
  });
}

export function useDeleteBook() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (bookId: string) => api.json<void>(bookPath(bookId), { method: "DELETE" }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: booksQueryKey }),
  });
}
