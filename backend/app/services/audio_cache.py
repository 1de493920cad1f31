"""Content-addressed audio cache on disk (DATA_DIR/audio_cache).

An entry is `<sha256>.audio` plus `<sha256>.json` (media type, headers, the audio's
length and SHA-256, and, once the sentence was heard, its `verification` and `words`: word
timings in that audio, docs/API.md "Verification"), stored under a two-character fan-out directory. The key hashes
everything that changes the sound: voice id, conditioning hash, text, settings, model id.

Entries are written through app.core.files (temp file, fsync, rename, directory fsync) and
only after a stream completed, so a cut-off stream leaves nothing behind. The sidecar is
written first and the audio last: the audio's presence makes an entry visible. A read checks
the audio against the sidecar's length and checksum; a truncated or corrupt entry (a crash
before fsync reached the disk, a bad sector, a hand edit) is removed and reported as a miss,
so it is generated again instead of being played broken. A full disk never breaks a stream:
the audio still plays, it is just not cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.files import AtomicFile, atomic_write, is_disk_full

log = logging.getLogger("ownvoice.cache")
TEMP_PREFIX = ".partial-"
HASH_CHUNK = 1024 * 1024


def cache_key(**parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class CacheEntry:
    path: Path
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0
    verification: dict[str, Any] | None = None
    words: list[dict[str, Any]] | None = None


class CacheWriter:
    """Collects one stream into a temp file; `commit()` publishes it, `discard()` drops it.

    A write error (a full disk above all) never reaches the listener: the entry is dropped,
    the rest of the stream is passed over, and `commit()` answers False.
    """

    def __init__(
        self,
        cache: AudioCache,
        key: str,
        media_type: str,
        headers: dict[str, str],
        heard: dict[str, Any] | None = None,
    ):
        self._cache, self._key = cache, key
        # `heard`: the entry's verification and word timings, published with the audio.
        self._meta: dict[str, Any] = {"media_type": media_type, "headers": headers, **(heard or {})}
        self._hash = hashlib.sha256()
        self._out: AtomicFile | None = None
        self._error: OSError | None = None
        try:
            directory = cache.directory_for(key)
            directory.mkdir(parents=True, exist_ok=True)
            self._out = AtomicFile(cache.paths(key)[0], prefix=TEMP_PREFIX)
        except OSError as exc:
            self._give_up(exc)

    @property
    def disk_full(self) -> bool:
        """Whether the entry was dropped because the disk is full."""
        return self._error is not None and is_disk_full(self._error)

    def _give_up(self, exc: OSError) -> None:
        self._error = exc
        log.warning("not caching audio: %s", exc, extra={"key": self._key})
        if self._out is not None:
            self._out.discard()
            self._out = None

    def write(self, chunk: bytes) -> None:
        if self._out is None:
            return
        try:
            self._out.write(chunk)
        except OSError as exc:
            self._give_up(exc)
            return
        self._hash.update(chunk)

    def commit(self) -> bool:
        """Publish the entry; False when it could not be stored (nothing is left behind)."""
        if self._out is None:
            return False
        out, self._out = self._out, None
        audio, meta = self._cache.paths(self._key)
        # Replacing an entry (a better take): the old one goes first, so that a reader never
        # pairs the old audio with the new sidecar; meanwhile it is a miss, never a broken play.
        self._cache.remove(self._key)
        try:
            atomic_write(
                meta, json.dumps({**self._meta, "size": out.size, "sha256": self._hash.hexdigest()})
            )
            out.commit()  # last: the audio's presence is what makes an entry visible
        except OSError as exc:
            out.discard()
            self._give_up(exc)
            return False
        self._cache._added(out.size)
        return True

    def discard(self) -> None:
        if self._out is not None:
            self._out.discard()
            self._out = None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# Each app server counts what it adds to the cache; it measures the directory again once it has
# added this share of `max_bytes`, so app servers sharing the directory (docs/deploy.md) keep the
# cap between them: together they overshoot it by at most this share each.
RESCAN_SHARE = 0.05


class AudioCache:
    """The cache directory, bounded by `max_bytes`: least recently used entries go first."""

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._size = self._measure()
        self._added_since_measured = 0

    def _measure(self) -> int:
        """The entries' bytes on disk: this app server's and any other's sharing the directory."""
        total = 0
        for audio in self._entries():
            with contextlib.suppress(FileNotFoundError):  # another app server evicted it
                total += audio.stat().st_size
        return total

    def _entries(self) -> list[Path]:
        return list(self.root.glob("*/*.audio"))

    @property
    def size_bytes(self) -> int:
        return self._size

    def _added(self, size: int) -> None:
        with self._lock:
            self._size += size
            if self.max_bytes is None:
                return
            self._added_since_measured += size
            if self._added_since_measured >= self.max_bytes * RESCAN_SHARE:
                self._size = self._measure()  # what the other app servers added counts too
                self._added_since_measured = 0
            if self._size > self.max_bytes:
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
            _remove_entry(audio)
            self._size -= size

    def entry_count(self) -> int:
        return len(self._entries())

    def clear(self) -> None:
        """Remove every entry (each is rendered again when next asked for)."""
        with self._lock:
            for audio in self._entries():
                _remove_entry(audio)
            self._size = self._measure()

    def directory_for(self, key: str) -> Path:
        return self.root / key[:2]

    def paths(self, key: str) -> tuple[Path, Path]:
        directory = self.directory_for(key)
        return directory / f"{key}.audio", directory / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        """The entry for `key` if it is present and intact; a damaged one is removed (a miss).

        Reads the whole entry to check it: call it off the event loop."""
        audio, meta = self.paths(key)
        try:
            size = audio.stat().st_size
        except FileNotFoundError:
            return None
        try:
            info = json.loads(meta.read_text())
            intact = info["size"] == size and info["sha256"] == _sha256_of(audio)
        except FileNotFoundError:
            return None  # evicted meanwhile
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            log.warning("removing a damaged audio cache entry", extra={"key": key})
            self._discard_damaged(audio, size)
            return None
        with contextlib.suppress(OSError):
            audio.touch()  # a hit makes the entry recently used
        return CacheEntry(
            audio,
            info["media_type"],
            info.get("headers", {}),
            size,
            info.get("verification"),
            info.get("words"),
        )

    def heard(self, key: str) -> dict[str, Any] | None:
        """An entry's verification and words from its sidecar alone (no checksum: cheap, for
        reports); None when there is no entry."""
        audio, meta = self.paths(key)
        if not audio.exists():
            return None
        try:
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict):
            return None
        return {"verification": info.get("verification"), "words": info.get("words")}

    def remove(self, key: str) -> None:
        """Remove `key`'s entry if there is one."""
        audio, _ = self.paths(key)
        try:
            size = audio.stat().st_size
        except FileNotFoundError:
            return
        self._discard_damaged(audio, size)

    def _discard_damaged(self, audio: Path, size: int) -> None:
        with self._lock:
            if _remove_entry(audio):
                self._size -= size

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
            with contextlib.suppress(OSError):  # a full disk must not stop playback
                atomic_write(self._models_file(), json.dumps(model_ids))

    def writer(
        self,
        key: str,
        media_type: str,
        headers: dict[str, str] | None = None,
        heard: dict[str, Any] | None = None,
    ) -> CacheWriter:
        return CacheWriter(self, key, media_type, headers or {}, heard)


def _remove_entry(audio: Path) -> bool:
    """Remove an entry, audio first (an entry without audio is invisible); False if gone."""
    try:
        audio.unlink()
    except FileNotFoundError:
        return False
    audio.with_suffix(".json").unlink(missing_ok=True)
    return True
