"""Passwords (argon2), browser sessions and API keys.

Session tokens and API keys are 256-bit random strings, so a fast SHA-256 digest is
enough to store them safely; argon2's deliberate slowness is kept for passwords, which
people choose and which can be guessed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.db import affected_rows
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


@functools.cache
def dummy_password_hash() -> str:
    """A hash of a password nobody knows, made with the same parameters as real ones."""
    return hash_password(secrets.token_urlsafe(32))


def check_credentials(db: Session, username: str, password: str) -> User | None:
    """The user if the password is right. Exactly one argon2 verification either way, so
    an unknown username takes as long as a known one and timing tells no names apart."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(dummy_password_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


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


def delete_other_sessions(db: Session, user: User, keep_token: str | None) -> int:
    """End every session of `user` but the one whose token is `keep_token`; returns how many."""
    query = delete(AuthSession).where(AuthSession.user_id == user.id)
    if keep_token:
        query = query.where(AuthSession.token_hash != digest(keep_token))
    deleted = affected_rows(db.execute(query))
    db.commit()
    return deleted


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


API_KEY_USE_RESOLUTION = timedelta(minutes=1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def user_for_api_key(db: Session, key: str, now: Callable[[], datetime] = _utcnow) -> User | None:
    """The key's user. `last_used_at` is recorded at most once a minute, so a busy client does
    not turn every request into a database write (and a wait for SQLite's write lock)."""
    row = db.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key)))
    if row is None:
        return None
    current = now()
    if row.last_used_at is None or current - _utc(row.last_used_at) >= API_KEY_USE_RESOLUTION:
        row.last_used_at = current
        db.commit()
    return enabled(row.user)


def enabled(user: User) -> User | None:
    """A disabled account's sessions and keys authenticate nobody."""
    return None if user.disabled else user


# --- login rate limiting --------------------------------------------------------------


Clock = Callable[[], float]


class FailureWindow:
    """Failure times per key in a sliding window, with bounded memory.

    Each key keeps at most `limit` times (older ones cannot matter). Keys are kept in
    least-recently-failed order: keys whose newest failure left the window are dropped
    as new failures arrive, and past `max_keys` live keys the stalest is evicted, so a
    flood of made-up usernames costs a fixed amount of memory.
    """

    def __init__(self, limit: int, window_seconds: float, max_keys: int, clock: Clock) -> None:
        self.limit, self.window, self.max_keys, self._clock = limit, window_seconds, max_keys, clock
        self._times: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def retry_after(self, key: Hashable) -> int:
        """Seconds until `key` may fail again; 0 when it is under its limit."""
        times = self._times.get(key)
        if times is None or len(times) < self.limit:
            return 0
        return max(0, math.ceil(self.window - (self._clock() - times[0])))

    def record(self, key: Hashable) -> None:
        now = self._clock()
        self._sweep(now)
        times = self._times.pop(key, None) or deque(maxlen=self.limit)
        times.append(now)
        self._times[key] = times  # now the most recent
        if len(self._times) > self.max_keys:
            self._times.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._times.pop(key, None)

    def _sweep(self, now: float) -> None:
        while self._times:
            oldest_key = next(iter(self._times))
            if now - self._times[oldest_key][-1] < self.window:
                return
            del self._times[oldest_key]


@dataclass
class LoginLimiter:
    """Failed logins, limited per (address, username) and, more loosely, per username.

    - One address: at most `max_failures` failures for one username per `window_seconds`;
      then that address waits (429), other addresses and other usernames are unaffected.
    - One username, all addresses together: at most `max_account_failures` per
      `account_window_seconds`, against guessing spread over many addresses.

    The account limit is set so that a single address can never reach it (it is stopped
    by its own limit first; checked in __post_init__): one attacker cannot lock the real
    user out. Behind a reverse proxy every request comes from the proxy's address unless
    OWNVOICE_TRUSTED_PROXIES names it, so set it there. Memory is bounded: see FailureWindow.
    """

    max_failures: int = 5
    window_seconds: float = 60.0
    max_account_failures: int = 30
    account_window_seconds: float = 300.0
    max_keys: int = 10_000
    clock: Clock = time.monotonic

    def __post_init__(self) -> None:
        # A sixth failure from one address comes a full window after its first, so within
        # one account window an address fails at most max_failures * ceil(ratio) times.
        windows = math.ceil(self.account_window_seconds / self.window_seconds)
        if self.max_failures * windows >= self.max_account_failures:
            raise ValueError("one address alone could reach the account limit: raise it")
        self._pairs = FailureWindow(
            self.max_failures, self.window_seconds, self.max_keys, self.clock
        )
        self._accounts = FailureWindow(
            self.max_account_failures, self.account_window_seconds, self.max_keys, self.clock
        )
        self._lock = threading.Lock()

    def retry_after(self, username: str, ip: str) -> int:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        name = username.lower()
        with self._lock:
            return max(self._pairs.retry_after((ip, name)), self._accounts.retry_after(name))

    def record_failure(self, username: str, ip: str) -> None:
        name = username.lower()
        with self._lock:
            self._pairs.record((ip, name))
            self._accounts.record(name)

    def reset(self, username: str, ip: str) -> None:
        """A successful login clears its address's count (the account count stays)."""
        with self._lock:
            self._pairs.forget((ip, username.lower()))

    def keys_held(self) -> int:
        with self._lock:
            return len(self._pairs) + len(self._accounts)
