"""From laid-out chapters to the file a user downloads, per format.

Every writer works in the job's own directory: it writes temporary files (`.partial-*`) and
publishes the finished export with `fsync_replace` (temporary file, fsync, rename, fsync of
the directory), so a crash never leaves half an export under its final name.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from app.core.files import fsync_replace
from app.models.book import Book
from app.services.books.epub import dc_metadata
from app.services.books.parsed import BookImportError
from app.services.exports import audio, subtitles
from app.services.exports.assemble import ChapterTimeline, pcm_chunks
from app.services.exports.audio import BookTags, Cover, Stop
from app.services.exports.epub_overlay import write_read_along_epub
from app.services.exports.epub_text import ReadAlongError
from app.services.exports.loudness import target_gain
from app.services.exports.timeline import PARTIAL, ChapterAudio
from app.services.renders import RenderFailed

EPUB_GONE = "The book's EPUB file is gone from the server: import the book again, then export."


def book_tags(book: Book, narrator: str, original: Path | None) -> BookTags:
    """Title, author, language and cover from the library; year and description from the
    book's EPUB when it has them."""
    year = description = None
    if original is not None and original.suffix.lower() == ".epub" and original.exists():
        with contextlib.suppress(BookImportError, OSError):
            meta = dc_metadata(original, "date", "description")
            found = re.search(r"\d{4}", meta["date"] or "")
            year = found.group(0) if found else None
            description = meta["description"]
    cover = Cover(book.cover.media_type, book.cover.data) if book.cover else None
    return BookTags(book.title, book.author, narrator, book.language, year, description, cover)


def _temp(directory: Path, suffix: str) -> Path:
    """A fresh temporary file in `directory` (the writers open it again by name)."""
    handle, name = tempfile.mkstemp(dir=directory, prefix=PARTIAL, suffix=suffix)
    os.close(handle)
    return Path(name)


def _publish(temp: Path, target: Path) -> str:
    fsync_replace(temp, target)
    return target.name


def _chapter_name(n: int, chapter: ChapterTimeline, suffix: str) -> str:
    title = re.sub(r"[^\w\- ]+", "", chapter.title).strip()[:60] or "Chapter"
    return f"{n:02d} {title}{suffix}"


def _chunks(timelines: list[ChapterTimeline], stop: Stop) -> Iterator[bytes]:
    for timeline in timelines:
        for chunk in pcm_chunks(timeline):
            stop()
            yield chunk


def _book_gain(timelines: list[ChapterTimeline], stop: Stop) -> float:
    return target_gain(lambda: _chunks(timelines, stop))


def write_m4b(
    timelines: list[ChapterTimeline], tags: BookTags, directory: Path, stem: str, stop: Stop
) -> str:
    gain = _book_gain(timelines, stop)
    temp = _temp(directory, ".m4b")
    try:
        audio.write_m4b(timelines, gain, tags, temp, stop)
        return _publish(temp, directory / f"{stem}.m4b")
    finally:
        temp.unlink(missing_ok=True)


def chapter_mp3s(
    timelines: list[ChapterTimeline], tags: BookTags, directory: Path, stop: Stop
) -> list[ChapterAudio]:
    """One MP3 per chapter in `directory`, at one gain for the whole book."""
    gain = _book_gain(timelines, stop)
    made = []
    for n, timeline in enumerate(timelines, start=1):
        path = directory / f"{PARTIAL}{n:03d}.mp3"
        audio.write_mp3(timeline, gain, tags, (n, len(timelines)), path, stop)
        made.append(
            ChapterAudio(
                timeline.chapter_id, timeline.title, path, timeline.duration, timeline.sentences
            )
        )
    return made


def _zip(directory: Path, target: Path, members: Callable[[zipfile.ZipFile], None]) -> str:
    temp = _temp(directory, ".zip")
    try:
        with zipfile.ZipFile(temp, "w") as archive:
            members(archive)
        return _publish(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_mp3_zip(
    timelines: list[ChapterTimeline], tags: BookTags, directory: Path, stem: str, stop: Stop
) -> str:
    chapters = chapter_mp3s(timelines, tags, directory, stop)
    try:

        def members(archive: zipfile.ZipFile) -> None:
            for n, (timeline, chapter) in enumerate(zip(timelines, chapters, strict=True), 1):
                # MP3 does not compress further: stored, so a player could even stream it.
                archive.write(chapter.audio_path, _chapter_name(n, timeline, ".mp3"))

        return _zip(directory, directory / f"{stem} (MP3).zip", members)
    finally:
        for chapter in chapters:
            chapter.audio_path.unlink(missing_ok=True)


def write_subtitles(timelines: list[ChapterTimeline], kind: str, directory: Path, stem: str) -> str:
    render = subtitles.srt if kind == "srt" else subtitles.vtt

    def members(archive: zipfile.ZipFile) -> None:
        for n, timeline in enumerate(timelines, start=1):
            text = render(timeline.sentences)
            archive.writestr(_chapter_name(n, timeline, f".{kind}"), text, zipfile.ZIP_DEFLATED)

    return _zip(directory, directory / f"{stem} ({kind.upper()}).zip", members)


def write_epub(
    timelines: list[ChapterTimeline],
    tags: BookTags,
    directory: Path,
    stem: str,
    original: Path | None,
    stop: Stop,
) -> str:
    """The book's own EPUB with one MP3 per chapter and a SMIL overlay per page
    (epub_overlay.py writes it, atomically)."""
    if original is None or not original.exists():
        raise RenderFailed(EPUB_GONE)
    chapters = chapter_mp3s(timelines, tags, directory, stop)
    target = directory / f"{stem} (read-along).epub"
    try:
        write_read_along_epub(
            original, chapters, target, narrator=tags.narrator, language=tags.language
        )
    except ReadAlongError as exc:
        raise RenderFailed(str(exc)) from exc
    finally:
        for chapter in chapters:
            chapter.audio_path.unlink(missing_ok=True)
    return target.name


def write(
    kind: str,
    timelines: list[ChapterTimeline],
    tags: BookTags,
    directory: Path,
    stem: str,
    original: Path | None,
    stop: Stop,
) -> str:
    """Write the export of `kind` into `directory`; its file name there."""
    if kind == "m4b":
        return write_m4b(timelines, tags, directory, stem, stop)
    if kind == "mp3":
        return write_mp3_zip(timelines, tags, directory, stem, stop)
    if kind in ("srt", "vtt"):
        return write_subtitles(timelines, kind, directory, stem)
    return write_epub(timelines, tags, directory, stem, original, stop)
