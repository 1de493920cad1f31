import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { EmptyState, ErrorNotice, Spinner } from "@/components/feedback";
import { Icon } from "@/components/Icon";
import { useVoices } from "@/features/voices/api/voices";
import { env } from "@/lib/env";
import type { BookSummary } from "@/lib/models";
import { usePageTitle } from "@/lib/use-page-title";
import { useBooks, useDeleteBook } from "../api/books";
import { firstRunDone, firstRunSteps, lastListened } from "../first-run";
import { AddBookDialog } from "./AddBookDialog";
import { FirstRunGuide } from "./FirstRunGuide";

function Cover({ book }: { book: BookSummary }) {
  const [failed, setFailed] = useState(false);
  if (!book.cover_url || failed) {
    return (
      <div className="cover cover-placeholder" aria-hidden="true">
        <span>{book.title}</span>
      </div>
    );
  }
  return (
    <img
      className="cover"
      src={`${env.apiBaseUrl}${book.cover_url}`}
      alt=""
      loading="lazy"
      onError={() => setFailed(true)}
    />
  );
}

function progressOf(book: BookSummary): number | null {
  // Only a position the reader actually reached counts (updated_at null = not started).
  const progress = book.progress;
  if (!progress?.updated_at || !Number.isFinite(progress.fraction)) return null;
  return Math.min(100, Math.max(0, progress.fraction * 100));
}

function ContinueListening({ book }: { book: BookSummary }) {
  const progress = progressOf(book);
  return (
    <section className="card continue-card" aria-labelledby="continue-heading">
      <div>
        <h2 id="continue-heading">Continue listening</h2>
        <p>
          <strong>{book.title}</strong>
          {progress !== null && <span className="muted"> · {Math.round(progress)}% read</span>}
        </p>
      </div>
      <Link className="btn btn-primary" to={`/reader/${book.id}`} data-testid="continue-listening">
        <Icon name="play" /> Continue
      </Link>
    </section>
  );
}

export function LibraryPage() {
  usePageTitle("Library");
  const books = useBooks();
  const voices = useVoices();
  const steps = books.data && voices.data ? firstRunSteps(voices.data.voices, books.data) : null;
  const latest = books.data ? lastListened(books.data) : null;
  const remove = useDeleteBook();
  const navigate = useNavigate();
  const [adding, setAdding] = useState(false);
  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Library</h1>
          <p className="muted">EPUB, plain text, or anything you paste.</p>
        </div>
        <button type="button" className="btn btn-primary" onClick={() => setAdding(true)}>
          <Icon name="plus" /> Add a book
        </button>
      </header>
      {steps && !firstRunDone(steps) && (
        <FirstRunGuide steps={steps} onAddBook={() => setAdding(true)} />
      )}
      {latest && <ContinueListening book={latest} />}
      {books.isPending && <Spinner />}
      {books.error && <ErrorNotice error={books.error} />}
      {remove.error && <ErrorNotice error={remove.error} />}
      {books.data && books.data.length === 0 && (
        <EmptyState title="Your library is empty">
          <p>Add an EPUB or a text file, or paste an article, and listen to it.</p>
          <button type="button" className="btn btn-primary" onClick={() => setAdding(true)}>
            <Icon name="plus" /> Add a book
          </button>
        </EmptyState>
      )}
      {books.data && books.data.length > 0 && (
        <ul className="book-grid">
          {books.data.map((book) => {
            const progress = progressOf(book);
            return (
              <li key={book.id} className="book-card" data-testid="book-card">
                <Link to={`/reader/${book.id}`} className="book-link">
                  <Cover book={book} />
                  <div className="book-meta">
                    <h2>{book.title}</h2>
                    <p className="muted small">{book.author || "Unknown author"}</p>
                    {progress !== null && (
                      <>
                        <div className="progress" aria-hidden="true">
                          <div className="progress-bar" style={{ width: `${progress}%` }} />
                        </div>
                        <p className="muted small progress-label">{Math.round(progress)}% read</p>
                      </>
                    )}
                  </div>
                </Link>
                <button
                  type="button"
                  className="btn btn-danger-ghost btn-small book-delete"
                  aria-label={`Delete ${book.title}`}
                  onClick={() => {
                    if (window.confirm(`Remove “${book.title}” from your library?`))
                      remove.mutate(book.id);
                  }}
                >
                  Delete
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {adding && (
        <AddBookDialog
          onClose={() => setAdding(false)}
          onAdded={(book) => {
            setAdding(false);
            navigate(`/reader/${book.id}`);
          }}
        />
      )}
    </div>
  );
}
