"""Per-user limits on concurrent work, so that one user (or one runaway client) cannot take
the server from the others. Request body caps live in app/api/body_limit.py."""

from __future__ import annotations

import threading
from collections import Counter


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
