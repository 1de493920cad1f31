"""Passwords (argon2), browser sessions and API keys.

Session tokens and API keys are 256-bit random strings, so a fast SHA-256 digest is
enough to store them safely; argon2's deliberate slowness is kept for passwords, which
people choose and which can be guessed.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.user import ApiKey, AuthSession, User

SESSION_COOKIE = "ownvoice_session"
SESSION_LIFETIME = timedelta(days=30)
API_KEY_PREFIX = "ov_"
API_KEY_VISIBLE_CHARS = 11  # "ov_" + 8 characters, enough to tell keys apart in a list

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(dt: datetime) -> datetime:
    # SQLite hands datetimes back without tzinfo even for timezone=True columns.
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --- sessions -------------------------------------------------------------------------


def create_session(db: Session, user: User) -> str:
    token = secrets.token_urlsafe(32)
    db.add(
        AuthSession(
            user_id=user.id,
            token_hash=digest(token),
            expires_at=datetime.now(UTC) + SESSION_LIFETIME,
        )
    )
    db.commit()
    return token


def user_for_session(db: Session, token: str) -> User | None:
    session = db.scalar(select(AuthSession).where(AuthSession.token_hash == digest(token)))
    if session is None:
        return None
    if _utc(session.expires_at) < datetime.now(UTC):
        db.delete(session)
        db.commit()
        return None
    return enabled(session.user)


def delete_session(db: Session, token: str) -> None:
    session = db.scalar(select(AuthSession).where(AuthSession.token_hash == digest(token)))
    if session is not None:
        db.delete(session)
        db.commit()


# --- API keys -------------------------------------------------------------------------


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def create_api_key(
    db: Session, user: User, name: str, key: str | None = None
) -> tuple[ApiKey, str]:
    """Store a new key (or a provisioned one) for `user`; returns the row and the plain key."""
    key = key or generate_api_key()
    row = ApiKey(
        user_id=user.id, name=name, prefix=key[:API_KEY_VISIBLE_CHARS], key_hash=digest(key)
    )
    db.add(row)
    db.commit()
    return row, key


def user_for_api_key(db: Session, key: str) -> User | None:
    row = db.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key)))
    if row is None:
        return None
    row.last_used_at = datetime.now(UTC)
    db.commit()
    return enabled(row.user)


def enabled(user: User) -> User | None:
    """A disabled account's sessions and keys authenticate nobody."""
    return None if user.disabled else user


# --- login rate limiting --------------------------------------------------------------


@dataclass
class LoginLimiter:
    """At most `max_failures` failed logins per (username, client IP) in a sliding window."""

    max_failures: int = 5
    window_seconds: float = 60.0

    def __post_init__(self) -> None:
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] >= self.window_seconds:
            times.popleft()
        return times

    def retry_after(self, username: str, ip: str) -> int:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        key = (username.lower(), ip)
        with self._lock:
            now = time.monotonic()
            times = self._prune(key, now)
            if not times:
                del self._failures[key]  # keep memory bounded by recent failures only
                return 0
            if len(times) < self.max_failures:
                return 0
            return max(1, int(self.window_seconds - (now - times[0])) + 1)

    def record_failure(self, username: str, ip: str) -> None:
        with self._lock:
            self._failures[(username.lower(), ip)].append(time.monotonic())

    def reset(self, username: str, ip: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), ip), None)
