"""Throttling of failed sign-ins: exponential back-off per (username, address) and per address, a high per-account cap.

    policy = ThrottlePolicy()                          # the defaults below
    throttle = SignInThrottle(policy, attempts_table)
    verdict = throttle.check(connection, "alice", "203.0.113.9", now)
    verdict.retry_at                                    # None: may try now; else when
    verdict.reason                                      # "pair", "address" or "account" (for the log only)

Why not a lock on the username: whoever knows a username could then lock its owner out
with a few wrong passwords (a denial of service the attacker controls). OWASP's
Authentication Cheat Sheet ("Account lockout" and "Login throttling") and NIST SP
800-63B 5.2.2 ("Rate limiting (throttling)") ask instead for limits that slow guessing
down without handing an attacker the power to lock anyone out:

1. **(username, address)**: `pair_free` failures are free; each further one doubles the
   wait before the next try, from `base_delay` up to `max_delay`. The real user, at
   another address, is not slowed by an attacker's failures. A success from that address
   clears the pair's earlier failures.
2. **address**: `address_free` failures from one address (whatever the usernames) are
   free; further ones back off the same way. This slows one machine trying many accounts.
3. **account**: more than `account_limit` failures of one username within `window`, from
   any addresses (a distributed guess), refuse further tries until the oldest of them
   leaves the window (so for at most `window`), except from an address where the user
   signed in successfully within `known_address_age`: the real user at their usual
   address still gets in. Each refusal is logged as `login.account_throttled` for
   administrators to notice.

Failures are counted in `crmkit_login_attempt`, the database every web process shares, so
the limits hold across processes and machines without another server. Attempts refused
by the throttle itself are logged but not counted: hammering during a wait neither
extends it nor counts as guessing. Unknown usernames are counted exactly like real ones,
so the answers never tell whether an account exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, and_, func, select


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits (see the module docstring); the defaults are this project's, documented in docs/security.md."""

    pair_free: int = 5
    address_free: int = 20
    account_limit: int = 100
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    #: Failures older than this are forgotten by every limit.
    window: timedelta = timedelta(hours=1)
    #: An address the user signed in from successfully within this time is exempt from the account limit.
    known_address_age: timedelta = timedelta(days=30)

    def delay(self, failures: int, free: int) -> timedelta | None:
        """The wait after the last of `failures` when `free` are allowed: None, or base_delay doubled per extra failure."""
        if failures < free:
            return None
        doublings = min(failures - free, 30)  # 2**30 base delays is far beyond any max_delay
        return min(self.max_delay, self.base_delay * (2 ** doublings))


@dataclass(frozen=True)
class ThrottleVerdict:
    retry_at: datetime | None = None
    #: Which limit applies: "pair", "address" or "account"; None when none does.
    reason: str | None = None


class SignInThrottle:
    """Reads the failures that matter for one attempt and says whether and until when it must wait."""

    def __init__(self, policy: ThrottlePolicy, attempts: Table) -> None:
        self.policy = policy
        self.attempts = attempts

    def check(self, connection: Connection, username: str, address: str | None, now: datetime) -> ThrottleVerdict:
        """The latest wait among the three limits for `username` at `address` (None: a caller without an address)."""
        since = now - self.policy.window
        verdicts = [self._pair(connection, username, address, since)]
        if address:
            verdicts.append(self._address(connection, address, since))
        verdicts = [verdict for verdict in verdicts if verdict.retry_at is not None and verdict.retry_at > now]
        account = self._account(connection, username, address, since, now)
        if account.retry_at is not None:
            verdicts.append(account)
        return max(verdicts, key=lambda verdict: verdict.retry_at, default=ThrottleVerdict())

    def _same_address(self, address: str | None):
        column = self.attempts.c.address
        return column.is_(None) if address is None else column == address

    def _backoff(self, connection: Connection, condition, since: datetime, free: int, reason: str) -> ThrottleVerdict:
        """Count and time of the last failure matching `condition` since `since`, as a back-off."""
        attempts = self.attempts
        count, last = connection.execute(select(func.count(), func.max(attempts.c.at)).where(
            condition, attempts.c.success.is_(False), attempts.c.at > since)).one()
        delay = self.policy.delay(count, free)
        return ThrottleVerdict(last + delay, reason) if delay is not None and last is not None else ThrottleVerdict()

    def _pair(self, connection: Connection, username: str, address: str | None, since: datetime) -> ThrottleVerdict:
        attempts = self.attempts
        pair = and_(attempts.c.username == username, self._same_address(address))
        last_success = connection.execute(select(func.max(attempts.c.at)).where(
            pair, attempts.c.success.is_(True), attempts.c.at > since)).scalar()
        return self._backoff(connection, pair, max(since, last_success or since), self.policy.pair_free, "pair")

    def _address(self, connection: Connection, address: str, since: datetime) -> ThrottleVerdict:
        return self._backoff(connection, self.attempts.c.address == address, since, self.policy.address_free,
                             "address")

    def _account(self, connection: Connection, username: str, address: str | None, since: datetime,
                 now: datetime) -> ThrottleVerdict:
        """Refused while `account_limit` or more failures of the username lie in the window, unless from a known address."""
        attempts = self.attempts
        limit = self.policy.account_limit
        # The limit-th most recent failure: while it is inside the window, the account is over its limit.
        oldest_counted = connection.execute(
            select(attempts.c.at).where(attempts.c.username == username, attempts.c.success.is_(False),
                                        attempts.c.at > since)
            .order_by(attempts.c.at.desc()).offset(limit - 1).limit(1)).scalar()
        if oldest_counted is None:
            return ThrottleVerdict()
        if address and connection.execute(select(attempts.c.id).where(
                attempts.c.username == username, attempts.c.address == address, attempts.c.success.is_(True),
                attempts.c.at > now - self.policy.known_address_age).limit(1)).first():
            return ThrottleVerdict()
        return ThrottleVerdict(oldest_counted + self.policy.window, "account")
