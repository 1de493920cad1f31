import type { ChapterSummary } from "@/lib/models";

interface ChapterListProps {
  chapters: ChapterSummary[];
  activeIndex: number;
  onChoose: (index: number) => void;
}

export function ChapterList({ chapters, activeIndex, onChoose }: ChapterListProps) {
  return (
    <nav aria-label="Chapters">
      <ol className="chapter-list">
        {chapters.map((chapter, index) => (
          <li key={String(chapter.id)}>
            <button
              type="button"
              className={`${index === activeIndex ? "active" : ""}${chapter.front_matter ? " front-matter" : ""}`}
              aria-current={index === activeIndex ? "true" : undefined}
              onClick={() => onChoose(index)}
            >
              {chapter.title || `Chapter ${index + 1}`}
            </button>
          </li>
        ))}
      </ol>
    </nav>
  );
}
