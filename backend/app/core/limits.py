"""Per-user limits on concurrent work, so that one user (or one runaway client) cannot take
the server from the others; and the one table of upload sizes (`UPLOADS`), which both the
body cap (app/api/body_limit.py, the first gate) and the streamed upload reader
(app/services/uploads.py) take their limits from. Other request body caps live in
app/api/body_limit.py."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from app.core.config import Settings

MB = 1024 * 1024
MULTIPART_OVERHEAD = MB  # generous room for headers, boundaries and text fields


@dataclass(frozen=True)
class UploadLimit:
    """A route whose body is an upload: the size of each file (from the settings), how many
    files, and the advice its 413 gives."""

    file_bytes: Callable[[Settings], int]
    max_files: int
    advice: str

    def limit(self, settings: Settings) -> int:
        """All the files together."""
        return self.file_bytes(settings) * self.max_files

    def cap(self, settings: Settings) -> int:
        """The whole body: the files and the form around them."""
        return self.limit(settings) + MULTIPART_OVERHEAD


# POST routes whose bodies are uploads (every other body is JSON-sized).
UPLOADS = {
    "/api/voice/upload": UploadLimit(
        lambda s: s.max_voice_upload_bytes, 1, "send a shorter recording"
    ),
    # ElevenLabs' voices/add takes several samples; the longest one is used.
    "/v1/voices/add": UploadLimit(lambda s: s.max_voice_upload_bytes, 5, "send shorter recordings"),
    "/api/books": UploadLimit(lambda s: s.max_book_upload_bytes, 1, "upload a smaller file"),
}


class StreamSlot:
    """One open audio stream; `release()` gives the slot back (at most once)."""

    def __init__(self, limiter: StreamLimiter, user_id: str) -> None:
        self._limiter, self._user_id, self._released = limiter, user_id, False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._release(self._user_id)


class StreamLimiter:
    """Counts each user's open audio streams: at most `per_user` at once."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, user_id: str) -> StreamSlot | None:
        """A slot for a new stream, or None when the user already has `per_user` open."""
        with self._lock:
            if self._open[user_id] >= self.per_user:
                return None
            self._open[user_id] += 1
        return StreamSlot(self, user_id)

    def open_streams(self, user_id: str) -> int:
        with self._lock:
            return self._open[user_id]

    def _release(self, user_id: str) -> None:
        with self._lock:
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]
