import { Link } from "react-router";
import type { FirstRunSteps } from "../first-run";

const STEPS = [
  {
    key: "voice",
    title: "Record your voice",
    body: "About 30 seconds, read aloud.",
    to: "/voices",
  },
  { key: "book", title: "Add a book", body: "An EPUB, a text file, or pasted text.", to: null },
  { key: "listened", title: "Listen", body: "Open a book and press Play.", to: null },
] as const;

/** Three first steps for a new user; the Library hides it once all are done. */
export function FirstRunGuide({
  steps,
  onAddBook,
}: {
  steps: FirstRunSteps;
  onAddBook: () => void;
}) {
  return (
    <section className="card first-run" aria-labelledby="first-run-heading">
      <h2 id="first-run-heading">Get started in three steps</h2>
      <ol className="first-run-steps">
        {STEPS.map((step) => {
          const done = steps[step.key];
          return (
            <li key={step.key} className={done ? "done" : ""} data-testid={`first-run-${step.key}`}>
              <span className="first-run-mark" aria-hidden="true">
                {done ? "✓" : ""}
              </span>
              <div>
                <strong>{step.title}</strong>
                {done && <span className="visually-hidden"> (done)</span>}
                <p className="muted small">{step.body}</p>
                {!done && step.to && (
                  <Link className="btn btn-small btn-primary" to={step.to}>
                    Record a voice
                  </Link>
                )}
                {!done && step.key === "book" && (
                  <button type="button" className="btn btn-small btn-primary" onClick={onAddBook}>
                    Add a book
                  </button>
                )}
              </div>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
