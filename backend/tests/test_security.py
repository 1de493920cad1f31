"""Password hashing, equal-time credential checks and the login limiter (injected clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import database
import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import make_engine, session_factory
from app.core.security import (
    LoginLimiter,
    check_credentials,
    hash_password,
    verify_password,
)
from app.main import run_migrations
from app.models.user import User


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_passwords_are_argon2_and_verify() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not-a-hash", "correct horse")


def test_limiter_blocks_after_max_failures_then_forgets(factory: sessionmaker[Session]) -> None:
    clock = FakeClock()
    limiter = LoginLimiter(factory, max_failures=3, window_seconds=60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("Alice", "10.0.0.1") == 0
        limiter.record_failure("Alice", "10.0.0.1")
    assert limiter.retry_after("alice", "10.0.0.1") == 60  # usernames are case-insensitive
    assert limiter.retry_after("alice", "10.0.0.2") == 0  # another address is not blocked
    clock.advance(59.5)
    assert limiter.retry_after("alice", "10.0.0.1") == 1
    clock.advance(0.5)
    assert limiter.retry_after("alice", "10.0.0.1") == 0


def test_success_resets_the_count(factory: sessionmaker[Session]) -> None:
    limiter = LoginLimiter(factory, max_failures=2, window_seconds=60, clock=FakeClock())
    limiter.record_failure("bob", "ip")
    limiter.reset("bob", "ip")
    limiter.record_failure("bob", "ip")
    assert limiter.retry_after("bob", "ip") == 0


def test_a_flood_of_made_up_usernames_is_forgotten_after_the_longer_window(
    factory: sessionmaker[Session],
) -> None:
    clock = FakeClock()
    limiter = LoginLimiter(factory, clock=clock)
    for n in range(500):
        limiter.record_failure(f"nobody-{n}", "10.0.0.9")
    assert limiter.keys_held() == 1000  # 500 (address, name) pairs + 500 names
    clock.advance(limiter.account_window_seconds)
    limiter.record_failure("one-more", "10.0.0.9")
    assert limiter.keys_held() == 2  # everything older than its window was dropped


def test_one_address_cannot_lock_the_account_but_many_addresses_do(
    factory: sessionmaker[Session],
) -> None:
    clock = FakeClock()
    limiter = LoginLimiter(factory, clock=clock)
    # One attacker address fails as fast as it is allowed to, for two account windows;
    # all along, the real user (another address) still gets in.
    failures, refusals = 0, 0
    end = clock.now + 2 * limiter.account_window_seconds
    while clock.now < end:
        if limiter.retry_after("victim", "203.0.113.66") == 0:
            limiter.record_failure("victim", "203.0.113.66")
            failures += 1
        else:
            refusals += 1
        assert limiter.retry_after("victim", "198.51.100.7") == 0
        clock.advance(0.5)
    assert failures == 50 and refusals > 1000  # 5 a minute, the rest refused
    # Guessing spread over many addresses hits the per-account limit, from every address.
    for n in range(limiter.max_account_failures):
        limiter.record_failure("victim", f"192.0.2.{n}")
    assert limiter.retry_after("victim", "198.51.100.7") > 0
    assert limiter.retry_after("someone-else", "198.51.100.7") == 0


def test_an_account_limit_one_address_could_reach_is_refused() -> None:
    with pytest.raises(ValueError, match="one address"):
        LoginLimiter(None, max_failures=5, window_seconds=60, max_account_failures=25)  # type: ignore[arg-type]


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated database of its own (SQLite, or the PostgreSQL run's)."""
    engine = make_engine(database.url_for(tmp_path))
    run_migrations(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(database.url_for(tmp_path))
    run_migrations(engine)
    with session_factory(engine)() as session:
        session.add(User(username="known", password_hash=hash_password("right-password")))
        session.commit()
        yield session
    engine.dispose()


def test_unknown_and_known_usernames_cost_one_argon2_verification_each(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self: PasswordHasher, hashed: str, password: str) -> bool:
        calls.append(password)
        return real_verify(self, hashed, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    assert check_credentials(db, "nobody", "a-guess") is None
    assert calls == ["a-guess"]
    assert check_credentials(db, "known", "a-guess") is None
    assert calls == ["a-guess", "a-guess"]
    user = check_credentials(db, "known", "right-password")
    assert user is not None and user.username == "known"
    assert len(calls) == 3
