"""Content-addressed audio cache on disk (DATA_DIR/audio_cache).

An entry is `<sha256>.audio` plus `<sha256>.json` (media type and headers), stored under a
two-character fan-out directory. The key hashes everything that changes the sound: voice id,
conditioning hash, text, settings, model id. Entries appear atomically (temp file +
os.replace) and only after a stream completed, so a cut-off stream leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def cache_key(**parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class CacheEntry:
    path: Path
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


class CacheWriter:
    """Collects one stream into a temp file; `commit()` publishes it, `discard()` drops it."""

    def __init__(self, cache: AudioCache, key: str, media_type: str, headers: dict[str, str]):
        self._cache, self._key = cache, key
        self._meta = {"media_type": media_type, "headers": headers}
        directory = cache.directory_for(key)
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=directory, prefix=".partial-")
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self) -> None:
        self._file.close()
        audio, meta = self._cache.paths(self._key)
        _atomic_write_text(meta, json.dumps(self._meta))
        # The audio file appears last: its presence is what makes an entry visible.
        size = self._tmp.stat().st_size
        os.replace(self._tmp, audio)
        self._cache._added(size)

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(name, path)


class AudioCache:
    """The cache directory, bounded by `max_bytes`: least recently used entries go first."""

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._size = sum(p.stat().st_size for p in self._entries())

    def _entries(self) -> list[Path]:
        return list(self.root.glob("*/*.audio"))

    @property
    def size_bytes(self) -> int:
        return self._size

    def _added(self, size: int) -> None:
        with self._lock:
            self._size += size
            if self.max_bytes is not None and self._size > self.max_bytes:
                self._evict(target=int(self.max_bytes * 0.9))

    def _evict(self, target: int) -> None:
        """Delete least recently used entries until the cache holds at most `target` bytes."""
        entries = []
        for audio in self._entries():
            with contextlib.suppress(FileNotFoundError):
                stat = audio.stat()
                entries.append((stat.st_mtime, stat.st_size, audio))
        entries.sort()
        self._size = sum(size for _, size, _ in entries)
        for _, size, audio in entries:
            if self._size <= target:
                break
            audio.unlink(missing_ok=True)  # first: an entry without audio is invisible
            audio.with_suffix(".json").unlink(missing_ok=True)
            self._size -= size

    def entry_count(self) -> int:
        return len(self._entries())

    def clear(self) -> None:
        """Remove every entry (each is rendered again when next asked for)."""
        with self._lock:
            for audio in self._entries():
                audio.unlink(missing_ok=True)  # first: an entry without audio is invisible
                audio.with_suffix(".json").unlink(missing_ok=True)
            self._size = sum(p.stat().st_size for p in self._entries())

    def directory_for(self, key: str) -> Path:
        return self.root / key[:2]

    def paths(self, key: str) -> tuple[Path, Path]:
        directory = self.directory_for(key)
        return directory / f"{key}.audio", directory / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        audio, meta = self.paths(key)
        if not audio.is_file():
            return None
        try:
            info = json.loads(meta.read_text())
            os.utime(audio)  # a hit makes the entry recently used
        except (OSError, ValueError):
            return None
        return CacheEntry(audio, info["media_type"], info.get("headers", {}))

    # The model ids last seen per engine: they are part of every key, and remembering them
    # lets cached audio play while the inference service is down, across restarts too.
    def _models_file(self) -> Path:
        return self.root / "model_ids.json"

    def last_model_ids(self) -> dict[str, str]:
        try:
            data = json.loads(self._models_file().read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def remember_model_ids(self, model_ids: dict[str, str]) -> None:
        if model_ids and model_ids != self.last_model_ids():
            _atomic_write_text(self._models_file(), json.dumps(model_ids))

    def writer(
        self, key: str, media_type: str, headers: dict[str, str] | None = None
    ) -> CacheWriter:
        return CacheWriter(self, key, media_type, headers or {})
