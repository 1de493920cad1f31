import { type FormEvent, useState } from "react";
import { Modal } from "@/components/Modal";
import type { Book } from "@/lib/models";
import { ACCEPTED_BOOKS, MAX_BOOK_BYTES, useAddBook } from "../api/books";

export function AddBookDialog({
  onClose,
  onAdded,
}: {
  onClose: () => void;
  onAdded: (book: Book) => void;
}) {
  const [mode, setMode] = useState<"file" | "text">("file");
  const [file, setFile] = useState<File | null>(null);
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);
  const add = useAddBook();

  function submit(event: FormEvent) {
    event.preventDefault();
    setLocalError(null);
    if (mode === "file") {
      if (!file) return;
      if (file.size > MAX_BOOK_BYTES) {
        setLocalError(
          "That file is over 50 MB — too large for a book. Check it is the right file.",
        );
        return;
      }
      add.mutate({ kind: "file", file }, { onSuccess: onAdded });
    } else {
      add.mutate(
        { kind: "text", title: title.trim(), text, language: "en" },
        { onSuccess: onAdded },
      );
    }
  }

  return (
    <Modal title="Add to library" onClose={onClose} wide>
      <div className="tabs" role="tablist">
        <button
          type="button"
          role="tab"
          aria-selected={mode === "file"}
          onClick={() => setMode("file")}
        >
          Upload EPUB or TXT
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={mode === "text"}
          onClick={() => setMode("text")}
        >
          Paste text
        </button>
      </div>
      <form className="stack" onSubmit={submit}>
        {mode === "file" ? (
          <label className="field">
            <span>Book file (.epub or .txt)</span>
            <input
              type="file"
              accept={ACCEPTED_BOOKS}
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              required
              data-testid="book-file"
            />
          </label>
        ) : (
          <>
            <label className="field">
              <span>Title</span>
              <input
                value={title}
                onChange={(e) => setTitle(e.target.value)}
                required
                maxLength={300}
              />
            </label>
            <label className="field">
              <span>Text</span>
              <textarea value={text} onChange={(e) => setText(e.target.value)} rows={10} required />
            </label>
          </>
        )}
        {(localError || add.error) && (
          <div className="alert alert-error" role="alert">
            {localError ?? add.error?.message}
          </div>
        )}
        <div className="actions">
          <button type="button" className="btn btn-ghost" onClick={onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" type="submit" disabled={add.isPending}>
            {add.isPending ? "Importing…" : "Add book"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
