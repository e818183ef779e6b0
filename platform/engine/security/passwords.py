"""Password hashing (argon2id) and the password policy.

    stored = hash_password("correct horse battery")
    verify_password(stored, "correct horse battery")     # True
    needs_rehash(stored)                                 # True once the parameters were raised
    check_password_policy("123456789012", username="bob")  # ["is only digits"]

Production uses argon2-cffi's recommended parameters. The test suite sets
CRMKIT_FAST_PASSWORD_HASH=1 for cheap parameters; it is honoured only while pytest is
loaded, so a stray variable in production cannot weaken stored passwords.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import sys
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

FAST_HASH_VARIABLE = "CRMKIT_FAST_PASSWORD_HASH"
MIN_LENGTH = 12
MAX_LENGTH = 1024
GENERATED_BYTES = 18  # 24 URL-safe characters, 144 bits


def fast_hashing_requested() -> bool:
    return os.environ.get(FAST_HASH_VARIABLE) == "1" and "pytest" in sys.modules


@lru_cache(maxsize=2)
def _hasher(fast: bool) -> PasswordHasher:
    if fast:
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()  # argon2id with argon2-cffi's recommended (RFC 9106 low-memory) parameters


def password_hasher() -> PasswordHasher:
    """The hasher new passwords are hashed with (and old ones are compared against for rehashing)."""
    return _hasher(fast_hashing_requested())


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches `password_hash`; False for a wrong password or an unusable hash."""
    if not password_hash:
        return False
    try:
        return password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's hasher uses."""
    try:
        return password_hasher().check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def spend_verification_time(password: str) -> None:
    """Verify against a throwaway hash, so a sign-in for an unknown user takes as long as for a known one."""
    verify_password(_dummy_hash(fast_hashing_requested()), password)


@lru_cache(maxsize=2)
def _dummy_hash(fast: bool) -> str:
    return _hasher(fast).hash(secrets.token_urlsafe(16))


def check_password_policy(password: str, *, username: str | None = None) -> list[str]:
    """What is wrong with `password` as phrases ("has fewer than 12 characters"); empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"has fewer than {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"has more than {MAX_LENGTH} characters")
    if password.isdigit():
        problems.append("is only digits")
    if any(character == "\x00" or "\ud800" <= character <= "\udfff" for character in password):
        problems.append("contains a character that cannot be stored (a NUL character or half of a surrogate pair)")
    if username and password.strip().lower() == username.strip().lower():
        problems.append("is the same as the username")
    return problems


def generate_password() -> str:
    """A random password that meets the policy, for a new account or a reset."""
    while True:
        password = secrets.token_urlsafe(GENERATED_BYTES)
        if not check_password_policy(password):
            return password


def token_digest(token: str) -> str:
    """What is stored of a session or API token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
