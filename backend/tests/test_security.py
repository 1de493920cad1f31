"""Password hashing and the login limiter's sliding window."""

from __future__ import annotations

import time

from app.core.security import LoginLimiter, hash_password, verify_password


def test_passwords_are_argon2_and_verify() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not-a-hash", "correct horse")


def test_limiter_blocks_after_max_failures_then_forgets() -> None:
    limiter = LoginLimiter(max_failures=3, window_seconds=0.3)
    for _ in range(3):
        assert limiter.retry_after("Alice", "10.0.0.1") == 0
        limiter.record_failure("Alice", "10.0.0.1")
    assert limiter.retry_after("alice", "10.0.0.1") >= 1  # usernames are case-insensitive
    assert limiter.retry_after("alice", "10.0.0.2") == 0  # another address is not blocked
    time.sleep(0.35)
    assert limiter.retry_after("alice", "10.0.0.1") == 0
    assert limiter._failures == {}  # nothing kept once the window has passed


def test_success_resets_the_count() -> None:
    limiter = LoginLimiter(max_failures=2, window_seconds=60)
    limiter.record_failure("bob", "ip")
    limiter.reset("bob", "ip")
    limiter.record_failure("bob", "ip")
    assert limiter.retry_after("bob", "ip") == 0
