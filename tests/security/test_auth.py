"""Signing in, throttling, sessions and API tokens."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crmkit.engine.security import authentication
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.authentication import Authenticator, LoginFailed, LoginThrottled
from crmkit.engine.security.passwords import password_hasher
from crmkit.engine.security.tokens import TokenStore
from crmkit.engine.security.users import UserError

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"
HOME, AWAY = "203.0.113.9", "198.51.100.1"


@pytest.fixture
def auth(crm, clock):
    return Authenticator(crm, clock=clock)


@pytest.fixture
def alice(directory):
    return directory.create_user("alice", password=PASSWORD)


@pytest.fixture
def tokens(crm, clock):
    return TokenStore(crm, clock=clock)


def rows(crm, table_name):
    table = crm.runtime.system_table(table_name)
    with crm.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table))]


def fail(auth, times, username="alice", address=HOME):
    for _ in range(times):
        with pytest.raises(LoginFailed):
            auth.login(username, WRONG, address=address)


# -- login ---------------------------------------------------------------------------------


def test_login_starts_a_session_and_records_it(auth, alice, crm, clock):
    info = auth.login("Alice", PASSWORD, address=HOME, user_agent="pytest")
    assert info.user.id == alice.id and info.user.last_login_at == clock.now
    assert info.expires_at == clock.now + timedelta(hours=8)
    [session] = rows(crm, "crmkit_login_session")
    assert session["token_hash"] == hashlib.sha256(info.token.encode()).hexdigest()
    assert info.token not in repr(session)
    assert (session["address"], session["user_agent"]) == (HOME, "pytest")
    [attempt] = rows(crm, "crmkit_login_attempt")
    assert (attempt["username"], attempt["address"], attempt["success"]) == ("alice", HOME, True)
    [entry] = SecurityLog(crm).entries(event="login.succeeded")
    assert (entry["user_id"], entry["username"], entry["address"]) == (alice.id, "alice", HOME)


def test_wrong_password_unknown_user_and_inactive_user_fail_alike(auth, directory, alice, crm, monkeypatch):
    spent = []
    monkeypatch.setattr(authentication, "spend_verification_time", spent.append)
    directory.create_user("nopassword")
    bob = directory.create_user("bob", password=PASSWORD)
    directory.deactivate(bob.id)
    messages = set()
    for username, password in [("alice", WRONG), ("nobody", PASSWORD), ("bob", PASSWORD), ("nopassword", "")]:
        with pytest.raises(LoginFailed) as caught:
            auth.login(username, password, address=HOME)
        messages.add(str(caught.value))
    assert messages == {"the username or password is incorrect."}
    assert spent == [PASSWORD, ""]  # unknown users cost the same argon2 work as known ones
    reasons = [e["detail"]["reason"] for e in reversed(SecurityLog(crm).entries(event="login.failed"))]
    assert reasons == ["wrong password", "unknown user", "inactive user", "no password set"]
    assert all(e["address"] == HOME for e in SecurityLog(crm).entries(event="login.failed"))
    assert [a["success"] for a in rows(crm, "crmkit_login_attempt")] == [False] * 4
    assert rows(crm, "crmkit_login_session") == []


def test_absurd_input_fails_like_any_wrong_password(auth, alice):
    with pytest.raises(LoginFailed):
        auth.login("x" * 10_000, None, address="a" * 500, user_agent="b" * 10_000)


def test_a_password_hashed_with_old_parameters_is_rehashed_on_login(auth, alice, crm):
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=password_hasher().time_cost + 1, memory_cost=16, parallelism=1).hash(PASSWORD)
    table = crm.runtime.system_table("crmkit_user")
    with crm.engine.begin() as connection:
        connection.execute(update(table).values(password_hash=old))
    auth.login("alice", PASSWORD)
    [user] = rows(crm, "crmkit_user")
    assert user["password_hash"] != old and not password_hasher().check_needs_rehash(user["password_hash"])
    assert SecurityLog(crm).entries(event="login.succeeded")[0]["detail"] == {"rehashed": True}
    auth.login("alice", PASSWORD)


# -- throttling ----------------------------------------------------------------------------


def test_an_attacker_at_one_address_cannot_lock_out_the_user_at_another(auth, alice, crm, clock):
    attacker = "192.0.2.66"
    for _ in range(auth.max_failures):
        fail(auth, 1, address=attacker)
    with pytest.raises(LoginThrottled) as caught:  # the attacker's address waits, even with the right password
        auth.login("alice", PASSWORD, address=attacker)
    assert str(caught.value) == "too many failed sign-in attempts; try again in 1 minute (after 09:00 UTC)."
    assert auth.login("alice", PASSWORD, address=HOME).user.id == alice.id  # alice at home is not slowed
    [entry] = SecurityLog(crm).entries(event="login.throttled")
    assert (entry["username"], entry["address"], entry["detail"]["limit"]) == ("alice", attacker, "pair")


def test_each_further_failure_doubles_the_wait_up_to_the_maximum(auth, alice, clock):
    attacker, waits = "192.0.2.66", []
    fail(auth, auth.max_failures, address=attacker)
    for _ in range(8):
        with pytest.raises(LoginThrottled) as caught:
            auth.login("alice", WRONG, address=attacker)
        waits.append(caught.value.retry_at - clock.now)
        clock.now = caught.value.retry_at
        fail(auth, 1, address=attacker)
    assert [wait.total_seconds() for wait in waits] == [30, 60, 120, 240, 480, 900, 900, 900]


def test_tries_while_waiting_neither_extend_the_wait_nor_count(auth, alice, crm, clock):
    fail(auth, auth.max_failures, address=AWAY)
    for _ in range(20):
        with pytest.raises(LoginThrottled):
            auth.login("alice", WRONG, address=AWAY)
    clock.advance(seconds=30)
    assert auth.login("alice", PASSWORD, address=AWAY).user.id == alice.id
    assert [a["success"] for a in rows(crm, "crmkit_login_attempt")].count(False) == auth.max_failures


def test_one_address_trying_many_usernames_is_throttled_whatever_the_username(auth, alice, directory):
    directory.create_user("bob", password=PASSWORD)
    attacker = "192.0.2.66"
    for number in range(auth.throttle.address_free):
        fail(auth, 1, username=f"user{number}", address=attacker)
    with pytest.raises(LoginThrottled) as caught:
        auth.login("bob", PASSWORD, address=attacker)
    assert caught.value.retry_at is not None
    assert auth.login("bob", PASSWORD, address=HOME).user.username == "bob"


def test_a_distributed_guess_hits_the_account_limit_for_a_while_but_not_the_users_known_address(alice, crm, clock):
    from crmkit.engine.security.throttling import ThrottlePolicy

    auth = Authenticator(crm, clock=clock, throttle=ThrottlePolicy(account_limit=12))  # 100 by default
    auth.login("alice", PASSWORD, address=HOME)  # alice's usual address
    clock.advance(minutes=1)
    for number in range(auth.throttle.account_limit):
        fail(auth, 1, address=f"198.51.{number // 250}.{number % 250}")
    with pytest.raises(LoginThrottled):  # a new address, even with the right password
        auth.login("alice", PASSWORD, address="192.0.2.200")
    assert auth.login("alice", PASSWORD, address=HOME).user.id == alice.id
    [entry] = SecurityLog(crm).entries(event="login.account_throttled")
    assert (entry["username"], entry["address"], entry["detail"]["limit"]) == ("alice", "192.0.2.200", "account")
    clock.advance(hours=1)  # time-limited: the failures leave the window
    assert auth.login("alice", PASSWORD, address="192.0.2.200").user.id == alice.id


def test_failures_outside_the_window_or_before_a_success_do_not_add_up(auth, alice, clock):
    fail(auth, 4)
    clock.advance(minutes=61)
    fail(auth, 4)
    auth.login("alice", PASSWORD, address=HOME)
    fail(auth, 4)
    assert auth.login("alice", PASSWORD, address=HOME)


def test_throttling_answers_the_same_for_unknown_and_real_usernames(auth, alice):
    messages = []
    for username in ("alice", "nobody"):
        fail(auth, auth.max_failures, username=username, address=AWAY)
        with pytest.raises(LoginThrottled) as caught:
            auth.login(username, PASSWORD, address=AWAY)
        messages.append((str(caught.value), caught.value.status))
    assert messages[0] == messages[1]


def test_the_limits_are_shared_by_every_process_using_the_database(auth, alice, crm, clock, database_url):
    from crmkit.engine import Crm

    other_process = Crm.open(database_url)
    try:
        elsewhere = Authenticator(other_process, clock=clock)
        fail(auth, auth.max_failures, address=AWAY)
        with pytest.raises(LoginThrottled):
            elsewhere.login("alice", PASSWORD, address=AWAY)
    finally:
        other_process.close()


def test_the_wait_grows_from_the_base_delay_and_stops_at_the_maximum():
    from crmkit.engine.security.throttling import ThrottlePolicy

    policy = ThrottlePolicy(base_delay=timedelta(seconds=10), max_delay=timedelta(minutes=1))
    assert [policy.delay(n, free=3) for n in (0, 2)] == [None, None]
    assert [policy.delay(n, free=3).total_seconds() for n in (3, 4, 5, 6, 100_000)] == [10, 20, 40, 60, 60]


# -- sessions ------------------------------------------------------------------------------


def test_a_session_ends_after_being_idle(auth, alice, clock, crm):
    token = auth.login("alice", PASSWORD).token
    clock.advance(hours=7)
    assert auth.session_user(token) == auth.session_user(token) and auth.session_user(token).id == alice.id
    clock.advance(hours=7)  # idle expiry slid forward when the session was used
    assert auth.session_user(token).username == "alice"
    clock.advance(hours=8)
    auth.login("alice", PASSWORD)
    assert auth.remove_expired_sessions() == 1 and len(rows(crm, "crmkit_login_session")) == 1
    assert auth.session_user(token) is None


def test_a_session_ends_at_its_absolute_limit_however_busy(auth, alice, clock, crm):
    token = auth.login("alice", PASSWORD).token
    for _ in range(23):
        clock.advance(hours=7)
        assert auth.session_user(token) is not None
    clock.advance(hours=7)  # 7 days and 0 hours since sign-in
    assert auth.session_user(token) is None
    assert rows(crm, "crmkit_login_session") == []


def test_session_use_is_written_at_most_once_a_minute_and_notes_the_address(auth, alice, clock, crm):
    token = auth.login("alice", PASSWORD, address=HOME).token
    signed_in = clock.now
    clock.advance(seconds=30)
    auth.session_user(token, address=HOME)
    assert rows(crm, "crmkit_login_session")[0]["last_seen_at"] == signed_in
    auth.session_user(token, address=AWAY)
    [session] = rows(crm, "crmkit_login_session")
    assert (session["last_seen_at"], session["address"]) == (clock.now, AWAY)


def test_logout_ends_one_session_and_end_sessions_all(auth, alice, crm):
    first, second, third = (auth.login("alice", PASSWORD).token for _ in range(3))
    auth.logout(first)
    auth.logout(first)
    assert auth.session_user(first) is None and auth.session_user(second) is not None
    assert auth.end_sessions(alice.id, actor_id=alice.id) == 2
    assert auth.session_user(second) is None and auth.session_user(third) is None
    assert auth.session_user("") is None and auth.session_user("made-up") is None
    assert [e["event"] for e in SecurityLog(crm).entries(user_id=alice.id, limit=2)] == ["sessions.ended", "logout"]


def test_deactivation_ends_sessions_for_good(auth, directory, alice):
    token = auth.login("alice", PASSWORD).token
    directory.deactivate(alice.id)
    assert auth.session_user(token) is None
    directory.activate(alice.id)
    assert auth.session_user(token) is None


def test_a_new_password_ends_the_other_sessions(auth, directory, alice):
    here, elsewhere = auth.login("alice", PASSWORD).token, auth.login("alice", PASSWORD).token
    directory.set_password(alice.id, "a brand new passphrase", keep_session=here)
    assert auth.session_user(here) is not None and auth.session_user(elsewhere) is None
    with pytest.raises(LoginFailed):
        auth.login("alice", PASSWORD)
    assert auth.login("alice", "a brand new passphrase")


# -- API tokens ----------------------------------------------------------------------------


def test_a_token_is_shown_once_and_stored_only_as_a_hash(tokens, alice, crm):
    issued = tokens.create(alice.id, "nightly export")
    scheme, prefix, secret = issued.token.split("_", 2)
    assert (scheme, prefix, issued.name) == ("crmkit", issued.prefix, "nightly export")
    assert len(secret) >= 40
    [stored] = rows(crm, "crmkit_api_token")
    assert secret not in repr(stored) and issued.token not in repr(stored)
    assert stored["token_hash"] == hashlib.sha256(issued.token.encode()).hexdigest()
    assert tokens.authenticate(issued.token) == alice
    [listed] = tokens.list(alice.id)
    assert set(listed) == {"id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"}
    assert listed["prefix"] == prefix


def test_only_the_exact_token_authenticates(tokens, alice):
    token = tokens.create(alice.id, "ci").token
    for wrong in [token[:-1], token + "x", token.replace("crmkit_", "other_"), "", None, "crmkit_"]:
        assert tokens.authenticate(wrong) is None


def test_tokens_can_be_revoked_and_are_scoped_to_their_user(tokens, directory, alice, crm):
    bob = directory.create_user("bob")
    issued = tokens.create(alice.id, "ci", actor_id=alice.id)
    assert tokens.list(bob.id) == []
    with pytest.raises(UserError, match=f"there is no API token with id {issued.id}."):
        tokens.revoke(issued.id, user_id=bob.id)
    tokens.revoke(issued.id, user_id=alice.id, actor_id=alice.id)
    tokens.revoke(issued.id)
    assert tokens.authenticate(issued.token) is None
    assert tokens.list(alice.id)[0]["revoked_at"] is not None
    events = [e["event"] for e in SecurityLog(crm).entries(user_id=alice.id, limit=2)]
    assert events == ["token.revoked", "token.created"]


def test_tokens_expire_and_stop_working_for_inactive_users(tokens, directory, alice, clock):
    expiring = tokens.create(alice.id, "one day", expires_at=clock.now + timedelta(days=1)).token
    lasting = tokens.create(alice.id, "forever").token
    clock.advance(days=1)
    assert tokens.authenticate(expiring) is None and tokens.authenticate(lasting) == alice
    directory.deactivate(alice.id)
    assert tokens.authenticate(lasting) is None
    with pytest.raises(UserError, match="'alice' is deactivated"):
        tokens.create(alice.id, "again")
    directory.activate(alice.id)
    assert tokens.authenticate(lasting) is not None


def test_token_use_is_written_at_most_once_a_minute(tokens, alice, clock):
    token = tokens.create(alice.id, "ci").token
    tokens.authenticate(token)
    first_use = clock.now
    clock.advance(seconds=59)
    tokens.authenticate(token)
    assert tokens.list(alice.id)[0]["last_used_at"] == first_use
    clock.advance(seconds=1)
    tokens.authenticate(token)
    assert tokens.list(alice.id)[0]["last_used_at"] == clock.now


def test_token_requests_that_cannot_be_honoured_are_sentences(tokens, alice, clock):
    with pytest.raises(UserError, match="there is no user with id 999."):
        tokens.create(999, "ci")
    with pytest.raises(UserError, match="a token name must have 1 to 150 characters"):
        tokens.create(alice.id, "  ")
    with pytest.raises(UserError, match="expiry must be a timezone-aware time in the future"):
        tokens.create(alice.id, "ci", expires_at=clock.now - timedelta(seconds=1))
    with pytest.raises(UserError, match="there is no API token with id 42."):
        tokens.revoke(42)
