"""Durable files: the one place that writes what the app keeps on disk.

Every file the app keeps (audio cache entries, voice recordings, book files, exports) is
written the same way: into a temporary file in the target's own directory, flushed and
fsynced, renamed over the target with os.replace, and the directory fsynced so the rename
itself survives a power cut. A crash leaves the old file or the new one, never half of one;
what it may leave is a temporary file, and `sweep_temp_files` removes those at start.

A full disk (ENOSPC, or a full quota: EDQUOT) is recognised by `is_disk_full`; the app
answers it with 507 (see app.main).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL_MESSAGE = (
    "The server's disk is full: free space on it (delete old books, voices or exports, or "
    "clear the audio cache), then try again."
)


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` means the disk (or the user's quota) is full, SQLite's way included."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    return "database or disk is full" in str(exc)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_replace(source: Path, target: Path) -> None:
    """Publish a finished file `source` as `target` (same file system): fsync, rename, fsync dir."""
    fsync_file(source)
    os.replace(source, target)
    fsync_directory(target.parent)
    if source.parent != target.parent:
        fsync_directory(source.parent)


class AtomicFile:
    """A file written in pieces that appears at `target` only on `commit()`, complete and synced.

    Until then it is a temporary file (`prefix` + random) next to `target`; `discard()` (or
    an exception inside `with`) removes it.
    """

    def __init__(self, target: Path, prefix: str = ".partial-") -> None:
        self.target = target
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix)
        self.temp = Path(name)
        self._handle: BinaryIO | None = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        assert self._handle is not None, "write after commit or discard"
        self._handle.write(data)
        self.size += len(data)

    def commit(self) -> None:
        assert self._handle is not None, "commit after commit or discard"
        handle, self._handle = self._handle, None
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(self.temp, self.target)
            fsync_directory(self.target.parent)
        except BaseException:
            handle.close()
            self.temp.unlink(missing_ok=True)
            raise

    def discard(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):  # closing flushes, which may fail on a full disk
                self._handle.close()
            self._handle = None
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(target: Path, data: bytes | str) -> None:
    """Replace `target` with `data`, durably and all at once."""
    with AtomicFile(target) as out:
        out.write(data.encode() if isinstance(data, str) else data)


def sweep_temp_files(
    directory: Path,
    prefixes: Iterable[str],
    recursive: bool = False,
    min_age_s: float = 0.0,
    now: float | None = None,
) -> int:
    """Delete temporary files a crash left behind in `directory`; returns how many.

    Run at start, before any request is served: then every such file is an orphan, unless
    other app servers share the data directory: then only files unchanged for `min_age_s`
    are (younger ones may be their uploads or cache writes in flight).
    """
    if not directory.is_dir():
        return 0
    removed, cutoff = 0, (time.time() if now is None else now) - min_age_s
    for prefix in prefixes:
        pattern = f"**/{prefix}*" if recursive else f"{prefix}*"
        for orphan in _files(directory.glob(pattern)):
            with contextlib.suppress(FileNotFoundError):
                if min_age_s and orphan.stat().st_mtime > cutoff:
                    continue
                orphan.unlink()
                removed += 1
    return removed


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    return (path for path in paths if path.is_file())
