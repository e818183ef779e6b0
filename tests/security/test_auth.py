"""Signing in, throttling, sessions and API tokens."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crmkit.engine.security import authentication
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.authentication import Authenticator, LoginFailed, LoginThrottled, locked_until
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


def test_too_many_failures_for_a_username_lock_it_until_the_lockout_ends(auth, alice, crm, clock):
    fail(auth, 4)
    clock.advance(minutes=5)
    fail(auth, 1, address=AWAY)
    with pytest.raises(LoginThrottled) as caught:
        auth.login("alice", PASSWORD, address="192.0.2.77")
    assert str(caught.value) == "too many failed sign-in attempts; try again in 15 minutes (after 09:20 UTC)."
    clock.advance(minutes=10)
    with pytest.raises(LoginThrottled, match="try again in 5 minutes"):  # trying while locked does not extend it
        auth.login("alice", PASSWORD)
    clock.advance(minutes=5)
    assert auth.login("alice", PASSWORD).user.id == alice.id
    [_, first] = SecurityLog(crm).entries(event="login.throttled")
    assert (first["username"], first["address"]) == ("alice", "192.0.2.77")
    assert [a["success"] for a in rows(crm, "crmkit_login_attempt")].count(False) == 7


def test_too_many_failures_from_an_address_lock_the_address(auth, alice, directory):
    directory.create_user("bob", password=PASSWORD)
    for username in ["alice", "bob", "carol", "dave", "erin"]:
        fail(auth, 1, username=username)
    with pytest.raises(LoginThrottled):
        auth.login("bob", PASSWORD, address=HOME)
    assert auth.login("bob", PASSWORD, address=AWAY).user.username == "bob"


def test_failures_outside_the_window_or_before_a_success_do_not_add_up(auth, alice, clock):
    fail(auth, 4)
    clock.advance(minutes=16)
    fail(auth, 4, address=AWAY)
    auth.login("alice", PASSWORD, address=AWAY)
    fail(auth, 4, address="192.0.2.77")
    assert auth.login("alice", PASSWORD, address="192.0.2.77")


def test_unknown_usernames_are_throttled_like_real_ones(auth):
    fail(auth, 5, username="nobody", address=None)
    with pytest.raises(LoginThrottled):
        auth.login("nobody", PASSWORD)


def test_locked_until_ignores_attempts_made_while_locked(clock):
    minute = timedelta(minutes=1)
    rules = {"max_failures": 3, "window": 10 * minute, "lockout": 15 * minute}
    start = clock.now
    assert locked_until([start, start + minute], **rules) is None
    assert locked_until([start, start + 11 * minute, start + 22 * minute], **rules) is None
    locked = [start, start + minute, start + 2 * minute]
    assert locked_until(locked, **rules) == start + 17 * minute
    assert locked_until(locked + [start + 10 * minute, start + 16 * minute], **rules) == start + 17 * minute


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
