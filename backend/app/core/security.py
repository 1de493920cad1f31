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
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import affected_rows
from app.models.user import ApiKey, AuthSession, LoginFailure, User

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


@dataclass
class FailureWindow:
    """One limit on failures in a sliding window: at most `limit` per key per `seconds`."""

    scope: str
    limit: int
    seconds: float

    def retry_after(self, db: Session, key: str, now: float) -> int:
        """Seconds until `key` may fail again; 0 while it is under its limit."""
        recent = db.scalars(
            select(LoginFailure.at)
            .where(
                LoginFailure.scope == self.scope,
                LoginFailure.key == key,
                LoginFailure.at > now - self.seconds,
            )
            .order_by(LoginFailure.at.desc())
            .limit(self.limit)
        ).all()
        if len(recent) < self.limit:
            return 0
        return max(0, math.ceil(self.seconds - (now - recent[-1])))


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
    OWNVOICE_TRUSTED_PROXIES names it, so set it there. The failures are rows in the database
    (`login_failures`), so every app server sharing it counts them together; rows older than
    the longer window are deleted as new failures arrive, so a flood of made-up usernames
    takes at most what arrives in one account window. `clock` is wall-clock seconds: app
    servers on several machines need their clocks in step (NTP), as for the job leases.
    """

    factory: sessionmaker[Session]
    max_failures: int = 5
    window_seconds: float = 60.0
    max_account_failures: int = 30
    account_window_seconds: float = 300.0
    clock: Clock = time.time

    def __post_init__(self) -> None:
        # A sixth failure from one address comes a full window after its first, so within
        # one account window an address fails at most max_failures * ceil(ratio) times.
        windows = math.ceil(self.account_window_seconds / self.window_seconds)
        if self.max_failures * windows >= self.max_account_failures:
            raise ValueError("one address alone could reach the account limit: raise it")
        self._pairs = FailureWindow("pair", self.max_failures, self.window_seconds)
        self._accounts = FailureWindow(
            "account", self.max_account_failures, self.account_window_seconds
        )

    def retry_after(self, username: str, ip: str) -> int:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        name, now = username.lower(), self.clock()
        with self.factory() as db:
            return max(
                self._pairs.retry_after(db, _pair(ip, name), now),
                self._accounts.retry_after(db, name, now),
            )

    def record_failure(self, username: str, ip: str) -> None:
        name, now = username.lower(), self.clock()
        longest = max(self.window_seconds, self.account_window_seconds)
        with self.factory() as db:
            db.execute(delete(LoginFailure).where(LoginFailure.at <= now - longest))
            db.add(LoginFailure(scope="pair", key=_pair(ip, name), at=now))
            db.add(LoginFailure(scope="account", key=name, at=now))
            db.commit()

    def reset(self, username: str, ip: str) -> None:
        """A successful login clears its address's count (the account count stays)."""
        with self.factory() as db:
            db.execute(
                delete(LoginFailure).where(
                    LoginFailure.scope == "pair", LoginFailure.key == _pair(ip, username.lower())
                )
            )
            db.commit()

    def keys_held(self) -> int:
        """Distinct (scope, key) pairs with failures stored."""
        with self.factory() as db:
            keys = select(LoginFailure.scope, LoginFailure.key).distinct().subquery()
            return db.scalar(select(func.count()).select_from(keys)) or 0


def _pair(ip: str, name: str) -> str:
    return f"{ip[:64]} {name[:128]}"
