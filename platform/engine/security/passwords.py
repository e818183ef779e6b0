"""Password hashing (argon2id) and the password policy.

    stored = hash_password("correct horse battery")
    verify_password(stored, "correct horse battery")     # True
    needs_rehash(stored)                                 # True once the parameters were raised
    check_password_policy("password1234", username="bob")  # ["is too easy to guess"]
    assess_password("bob-crmkit-2024", username="bob")     # problems, zxcvbn's warning and suggestions

Production uses argon2-cffi's recommended parameters. The test suite sets
CRMKIT_FAST_PASSWORD_HASH=1 for cheap parameters; it is honoured only while pytest is
loaded, so a stray variable in production cannot weaken stored passwords.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

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


#: zxcvbn's score (0 to 4) a password needs: 3 is "safely unguessable" (about 10^8 guesses or more),
#: the level its authors and OWASP's Authentication Cheat Sheet recommend refusing below.
MIN_SCORE = 3
#: zxcvbn refuses longer input; the first 72 characters are rated (a longer password passes on length anyway).
ZXCVBN_MAX_LENGTH = 72
#: Context words shorter than this are not looked for inside a password ("li" is in "reliable").
CONTEXT_WORD_LENGTH = 4
#: The product's own name: NIST SP 800-63B 5.1.1.2 names "the name of the service" as a context word.
SERVICE_WORDS = ("crmkit",)
#: Top-level and common mail domain labels: no clue to the user, so not context words.
_MAIL_LABELS = frozenset({"com", "net", "org", "edu", "gov", "mail", "gmail", "outlook", "hotmail", "yahoo", "example"})
_zxcvbn_lock = threading.Lock()


@dataclass(frozen=True)
class PasswordProblem:
    """One reason a password is refused: `code` for translations, `phrase` in English ("has fewer than 12 characters")."""

    code: str
    phrase: str


@dataclass(frozen=True)
class PasswordAssessment:
    """What the policy says of a password: its problems (empty: acceptable) and zxcvbn's advice in English.

    `warning` is zxcvbn's sentence about what makes it guessable ("" if none); `suggestions`
    are sentences saying how to make a better one. Both come from zxcvbn's fixed set of texts
    (zxcvbn/feedback.py), so a user interface can translate them.
    """

    problems: tuple[PasswordProblem, ...]
    warning: str = ""
    suggestions: tuple[str, ...] = ()
    score: int = 4

    @property
    def acceptable(self) -> bool:
        return not self.problems


def context_words(*texts: str | None) -> tuple[str, ...]:
    """Lowercased words a password must not be built on: the texts themselves, their parts, and the product's name.

    `texts` are the username, display name and email address (any may be None): an email
    gives its local part and its domain's labels ("wang.wei@acme.cn" -> "wang.wei", "wang",
    "wei", "acme"), a display name its words.
    """
    words: list[str] = list(SERVICE_WORDS)
    for text in texts:
        if not text:
            continue
        text = str(text).strip().lower()
        local, _, domain = text.partition("@")
        pieces = [text, local] + re.split(r"[^\w]+", local) + re.split(r"[^\w]+", domain)
        words.extend(piece for piece in pieces if piece and piece not in _MAIL_LABELS)
    return tuple(dict.fromkeys(words))


def assess_password(password: str, *, username: str | None = None, context: Sequence[str] = ()) -> PasswordAssessment:
    """The policy of NIST SP 800-63B 5.1.1.2 for `password`: length, storable, not guessable, not built on context.

    - at least MIN_LENGTH (12) and at most MAX_LENGTH (1024) characters, no composition rules;
    - not the username, and no context word (`context`, see `context_words`; the username and
      "crmkit" always) of 4 or more characters inside it;
    - zxcvbn (dictionaries of common passwords, names, English words, keyboard patterns,
      repeats, sequences, dates) with the context words as user inputs rates it at least
      MIN_SCORE; else zxcvbn's warning and suggestions say why and how to choose better.
    """
    problems = []
    if not password:  # zxcvbn fails on an empty text (IndexError); there is nothing to rate
        return PasswordAssessment((PasswordProblem("too_short", f"has fewer than {MIN_LENGTH} characters"),),
                                  suggestions=("Add another word or two. Uncommon words are better.",), score=0)
    if len(password) < MIN_LENGTH:
        problems.append(PasswordProblem("too_short", f"has fewer than {MIN_LENGTH} characters"))
    if len(password) > MAX_LENGTH:
        problems.append(PasswordProblem("too_long", f"has more than {MAX_LENGTH} characters"))
    if any(character == "\x00" or "\ud800" <= character <= "\udfff" for character in password):
        problems.append(PasswordProblem("unstorable", "contains a character that cannot be stored (a NUL character or "
                                                      "half of a surrogate pair)"))
        return PasswordAssessment(tuple(problems), suggestions=("Remove that character.",), score=0)
    words = context_words(username, *context)
    lowered = password.strip().lower()
    if username and lowered == normalized(username):
        problems.append(PasswordProblem("username", "is the same as the username"))
    elif any(len(word) >= CONTEXT_WORD_LENGTH and word in lowered for word in words) or \
            (username and len(normalized(username)) >= 3 and normalized(username) in lowered):
        problems.append(PasswordProblem("context", "contains the username, a part of the name or email address, "
                                                   "or the name crmkit"))
    rating = _rate(password, words)
    feedback = rating["feedback"]
    suggestions = tuple(feedback.get("suggestions") or ())
    if rating["score"] < MIN_SCORE:
        problems.append(PasswordProblem("guessable", "is too easy to guess"))
        suggestions = suggestions or ("Add another word or two. Uncommon words are better.",)
    elif problems:
        suggestions = ("Use a few unrelated words that have nothing to do with you or this service.",)
    if not problems:
        return PasswordAssessment((), score=rating["score"])
    return PasswordAssessment(tuple(problems), feedback.get("warning") or "", suggestions, rating["score"])


def normalized(username: str) -> str:
    return str(username).strip().lower()


def _rate(password: str, words: Sequence[str]) -> dict:
    """zxcvbn's rating; serialised, because zxcvbn keeps the user inputs in a module-level dictionary."""
    with _zxcvbn_lock:
        return zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=list(words))


def check_password_policy(password: str, *, username: str | None = None, context: Sequence[str] = ()) -> list[str]:
    """What is wrong with `password` as phrases ("has fewer than 12 characters"); empty when it is acceptable.

    `context` are further texts the password must not be built on (display name, email): see assess_password.
    """
    return [problem.phrase for problem in assess_password(password, username=username, context=context).problems]


def generate_password() -> str:
    """A random password that meets the policy, for a new account or a reset (24 URL-safe characters, 144 bits)."""
    while True:
        password = secrets.token_urlsafe(GENERATED_BYTES)
        if not check_password_policy(password):
            return password


def token_digest(token: str) -> str:
    """What is stored of a session or API token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
