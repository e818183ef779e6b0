"""Users, teams and grants: the directory's rules, and a security-log entry for every change."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.passwords import (
    check_password_policy, generate_password, hash_password, needs_rehash, password_hasher, verify_password,
)
from crmkit.engine.security.users import User, UserError

PASSWORD = "correct horse battery"


# -- passwords ---------------------------------------------------------------------------


GUESSABLE = "is too easy to guess"
CONTEXT = "contains the username, a part of the name or email address, or the name crmkit"


@pytest.mark.parametrize("password, problems", [
    ("correct horse battery", []),
    ("short", ["has fewer than 12 characters", GUESSABLE]),
    ("123456789012", [GUESSABLE]),
    ("12345", ["has fewer than 12 characters", GUESSABLE]),
    ("Alice.Example", ["is the same as the username", GUESSABLE]),
    ("x" * 1025, ["has more than 1024 characters", GUESSABLE]),
    # NIST SP 800-63B 5.1.1.2: common passwords, repeats and sequences, context words.
    ("password1234", [GUESSABLE]),
    ("aaaaaaaaaaaa", [GUESSABLE]),
    ("qwertyuiopasdf", [GUESSABLE]),
    ("abcdefghijklmnop", [GUESSABLE]),
    ("P@ssw0rd2024!", [GUESSABLE]),
    ("iloveyou123456", [GUESSABLE]),
    ("adminadminadmin", [GUESSABLE]),
    ("alice.example horse battery", [CONTEXT]),
    ("crmkit horse battery", [CONTEXT]),
    ("CRMKIT-crmkit-2024", [CONTEXT]),
    ("wonderland horse battery", [CONTEXT]),       # a word of the display name
    ("acmecorp staple horse", [CONTEXT]),          # the email's domain
])
def test_password_policy_names_every_problem(password, problems):
    assert check_password_policy(password, username="alice.example",
                                 context=["Alice Wonderland", "alice@acmecorp.example"]) == problems


def test_a_refused_password_says_why_and_how_to_choose_a_better_one(directory):
    from crmkit.engine.security.users import PasswordRefused

    with pytest.raises(PasswordRefused) as caught:
        directory.create_user("admin", password="adminadminadmin")
    assert str(caught.value) == (
        "the password is not acceptable: it contains the username, a part of the name or email address, or the "
        'name crmkit; it is too easy to guess. Repeats like "abcabcabc" are only slightly harder to guess than '
        '"abc". Add another word or two. Uncommon words are better. Avoid repeated words and characters.')
    assert caught.value.status == 422
    assert [problem.code for problem in caught.value.assessment.problems] == ["context", "guessable"]
    alice = directory.create_user("alice", display_name="Alice Wonderland", email="alice@acmecorp.example")
    for weak in ("wonderland forever and ever", "acmecorp forever and ever", "password1234"):
        with pytest.raises(PasswordRefused):  # a reset or change checks against the user's own name and email
            directory.set_password(alice.id, weak)
    directory.set_password(alice.id, generate_password())


def test_hashes_are_argon2id_salted_and_verify_only_the_right_password():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$") and first != second
    assert verify_password(first, PASSWORD)
    assert not verify_password(first, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password(None, PASSWORD)


def test_a_hash_made_with_other_parameters_needs_rehashing():
    from argon2 import PasswordHasher

    assert not needs_rehash(hash_password(PASSWORD))
    stronger = PasswordHasher(time_cost=password_hasher().time_cost + 1, memory_cost=16, parallelism=1)
    assert needs_rehash(stronger.hash(PASSWORD))
    assert needs_rehash("garbage")


def test_production_uses_argon2_recommended_parameters(monkeypatch):
    from argon2 import PasswordHasher

    monkeypatch.delenv("CRMKIT_FAST_PASSWORD_HASH")
    default = PasswordHasher()
    assert (password_hasher().time_cost, password_hasher().memory_cost) == (default.time_cost, default.memory_cost)


def test_generated_passwords_meet_the_policy_and_differ():
    passwords = {generate_password() for _ in range(20)}
    assert len(passwords) == 20
    assert all(not check_password_policy(p) and len(p) >= 20 for p in passwords)


# -- users ---------------------------------------------------------------------------------


def test_create_user_stores_a_lowercase_username_and_never_exposes_the_hash(directory, crm):
    user = directory.create_user("Alice.Example", display_name="Alice", email="alice@example.com",
                                 password=PASSWORD, language="zh-cn", timezone="Asia/Shanghai", role="sales_rep")
    assert (user.username, user.display_name, user.email, user.language, user.timezone, user.role, user.active) == (
        "alice.example", "Alice", "alice@example.com", "zh-CN", "Asia/Shanghai", "sales_rep", True)
    assert user.last_login_at is None
    assert "password_hash" not in {field.name for field in dataclasses.fields(User)}
    assert directory.get(user.id) == user == directory.by_username("ALICE.example")
    table = crm.runtime.system_table("crmkit_user")
    with crm.engine.connect() as connection:
        stored = connection.execute(select(table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_user_without_password_or_display_name_gets_sensible_defaults(directory):
    user = directory.create_user("bob")
    assert (user.display_name, user.language, user.timezone, user.role, user.email) == ("bob", "en", "UTC", None, None)


def test_usernames_are_unique_whatever_their_case(directory):
    directory.create_user("alice")
    with pytest.raises(UserError, match="the username 'alice' is already taken."):
        directory.create_user("ALICE")


BAD_USERNAMES = ["a", "a" * 151, "alice smith", "alice/../x", "名字abc", ""]
BAD_DETAILS = [
    ({"language": "xx"}, "'xx' is not a known language: use a code like 'en', 'zh', 'zh-CN' or 'de'."),
    ({"language": "english"}, "'english' is not a known language"),
    ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not a time zone name"),
    ({"timezone": "../etc/passwd"}, "is not a time zone name"),
    ({"email": "not-an-email"}, "'not-an-email' is not an email address."),
]


def test_bad_usernames_languages_time_zones_and_emails_are_refused_with_the_rule(directory):
    for username in BAD_USERNAMES:
        with pytest.raises(UserError, match="is not a valid username: use 2 to 150 letters, digits"):
            directory.create_user(username)
    for options, message in BAD_DETAILS:
        with pytest.raises(UserError, match=message):
            directory.create_user("dave", **options)
    assert directory.list() == []


def test_a_weak_password_is_refused_with_everything_wrong_with_it(directory):
    with pytest.raises(UserError) as caught:
        directory.create_user("carol", password="12345")
    assert str(caught.value).startswith("the password is not acceptable: it has fewer than 12 characters; "
                                        "it is too easy to guess. ")
    with pytest.raises(UserError, match="it is the same as the username"):
        directory.create_user("carol.example", password="Carol.Example")


def test_list_is_sorted_and_can_leave_out_inactive_users(directory):
    bob, alice = directory.create_user("bob"), directory.create_user("alice")
    directory.deactivate(bob.id)
    assert [u.username for u in directory.list()] == ["alice", "bob"]
    assert directory.list(active_only=True) == [alice]


def test_unknown_users_are_a_sentence(directory):
    assert directory.by_username("nobody") is None
    with pytest.raises(UserError, match="there is no user with id 999."):
        directory.get(999)
    with pytest.raises(UserError, match="there is no user with id 999."):
        directory.deactivate(999)


def test_deactivate_activate_and_set_role(directory):
    user = directory.create_user("erin", password=PASSWORD)
    directory.deactivate(user.id, actor_id=1)
    assert directory.get(user.id).active is False
    directory.activate(user.id, actor_id=1)
    assert directory.get(user.id).active is True
    directory.set_role(user.id, "sales_manager")
    assert directory.get(user.id).role == "sales_manager"
    directory.set_role(user.id, None)
    assert directory.get(user.id).role is None


def test_set_password_checks_the_policy_and_replaces_the_hash(directory, crm):
    user = directory.create_user("frank", password=PASSWORD)
    with pytest.raises(UserError, match="has fewer than 12 characters"):
        directory.set_password(user.id, "short")
    directory.set_password(user.id, "another long passphrase")
    table = crm.runtime.system_table("crmkit_user")
    with crm.engine.connect() as connection:
        stored = connection.execute(select(table.c.password_hash)).scalar_one()
    assert verify_password(stored, "another long passphrase") and not verify_password(stored, PASSWORD)


# -- teams and grants ----------------------------------------------------------------------


def test_teams_and_memberships(directory):
    alice = directory.create_user("alice")
    emea = directory.create_team("emea", {"en": "EMEA", "zh": "欧洲中东非洲"})
    apac = directory.create_team("apac")
    directory.add_to_team(apac, alice.id)
    directory.add_to_team(emea, alice.id)
    directory.add_to_team(emea, alice.id)
    assert directory.teams_of(alice.id) == sorted([emea, apac])
    directory.remove_from_team(emea, alice.id)
    assert directory.teams_of(alice.id) == [apac]
    with pytest.raises(UserError, match="there is already a team named 'apac'."):
        directory.create_team("apac")
    with pytest.raises(UserError, match="there is no team with id 999."):
        directory.add_to_team(999, alice.id)


def test_permission_sets_of_a_user_are_their_grants_plus_their_roles(directory):
    alice = directory.create_user("alice", role="sales_rep", permission_sets=["reports"])
    bob = directory.create_user("bob", role="support")
    directory.grant("sales", role="sales_rep")
    directory.grant("export", user_id=alice.id)
    directory.grant("export", user_id=alice.id)
    assert directory.permission_sets_of(alice.id) == frozenset({"reports", "sales", "export"})
    assert directory.permission_sets_of(bob.id) == frozenset()
    directory.revoke("export", user_id=alice.id)
    directory.revoke("sales", role="sales_rep")
    assert directory.permission_sets_of(alice.id) == frozenset({"reports"})
    directory.set_role(bob.id, "sales_rep")
    directory.grant("sales", role="sales_rep")
    assert directory.permission_sets_of(bob.id) == frozenset({"sales"})


def test_a_grant_goes_to_exactly_one_user_or_role(directory):
    alice = directory.create_user("alice")
    with pytest.raises(UserError, match="give exactly one of them"):
        directory.grant("sales")
    with pytest.raises(UserError, match="give exactly one of them"):
        directory.grant("sales", user_id=alice.id, role="sales_rep")
    with pytest.raises(UserError, match="there is no user with id 999."):
        directory.grant("sales", user_id=999)


# -- the security log ----------------------------------------------------------------------


def test_every_change_is_in_the_security_log_with_who_did_it(directory, crm):
    alice = directory.create_user("alice", password=PASSWORD, permission_sets=["sales"], actor_id=1)
    team = directory.create_team("emea", actor_id=1)
    directory.add_to_team(team, alice.id, actor_id=1)
    directory.remove_from_team(team, alice.id, actor_id=1)
    directory.set_role(alice.id, "sales_rep", actor_id=1)
    directory.grant("export", user_id=alice.id, actor_id=1)
    directory.revoke("export", user_id=alice.id, actor_id=1)
    directory.set_password(alice.id, "another long passphrase", actor_id=1)
    directory.deactivate(alice.id, actor_id=1)
    directory.activate(alice.id, actor_id=1)
    entries = SecurityLog(crm).entries(user_id=alice.id)
    assert [entry["event"] for entry in reversed(entries)] == [
        "user.created", "permission.granted", "team.member_added", "team.member_removed", "role.changed",
        "permission.granted", "permission.revoked", "password.changed", "user.deactivated", "user.activated"]
    assert all(entry["username"] == "alice" and entry["detail"]["by"] == 1 for entry in entries)
    role_change = SecurityLog(crm).entries(event="role.changed")[0]
    assert role_change["detail"] == {"by": 1, "from": None, "to": "sales_rep"}
    assert "another long passphrase" not in repr(SecurityLog(crm).entries())


def test_a_refused_change_leaves_no_log_entry(directory, crm):
    directory.create_user("alice")
    with pytest.raises(UserError):
        directory.create_user("alice")
    assert [entry["event"] for entry in SecurityLog(crm).entries()] == ["user.created"]


def test_a_change_and_its_log_entry_commit_together(crm):
    from crmkit.engine.database import write_transaction

    log = SecurityLog(crm)
    with pytest.raises(RuntimeError):
        with write_transaction(crm.write_engine) as connection:
            log.record("user.created", username="ghost", connection=connection)
            raise RuntimeError("the change failed")
    assert log.entries() == []


def test_log_entries_filter_by_event_user_and_time_newest_first(crm, clock):
    log = SecurityLog(crm, clock=clock)
    log.record("login.failed", username="eve", address="203.0.113.9")
    clock.advance(minutes=1)
    log.record("login.succeeded", user_id=7, username="alice", address="198.51.100.1", detail={"rehashed": False})
    clock.advance(minutes=1)
    log.record("logout", user_id=7, username="alice")
    assert [e["event"] for e in log.entries()] == ["logout", "login.succeeded", "login.failed"]
    assert [e["event"] for e in log.entries(user_id=7, limit=1)] == ["logout"]
    assert log.entries(event="login.failed")[0]["address"] == "203.0.113.9"
    assert [e["event"] for e in log.entries(since=clock.now)] == ["logout"]


def test_the_log_is_append_only():
    public = {name for name in dir(SecurityLog) if not name.startswith("_")}
    assert public == {"record", "entries"}


# -- mistakes are sentences ------------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    (lambda d: d.create_user("bob", role="nosuchrole"), "there is no role 'nosuchrole'. The roles are: sales_manager, "
                                                         "sales_rep, support."),
    (lambda d: d.create_user("bob", role="sales_reps"), "there is no role 'sales_reps'. Did you mean 'sales_rep'?"),
    (lambda d: d.create_user("bob", permission_sets=["sales", "nosuchset"]),
     "there is no permission set 'nosuchset'. The permission sets are: admin, export, reports, sales."),
    (lambda d: d.grant("nosuchset", user_id=d.create_user("bob").id), "there is no permission set 'nosuchset'."),
    (lambda d: d.grant("sales", role="nosuchrole"), "there is no role 'nosuchrole'."),
    (lambda d: d.set_role(d.create_user("bob").id, "nosuchrole"), "there is no role 'nosuchrole'."),
    (lambda d: d.create_user("bob", display_name="Bo\x00b"), "the display name contains a character that cannot be "
                                                              "stored (a NUL character or half of a surrogate pair)"),
    (lambda d: d.create_user("bob", email="bob\ud800@example.com"), "the email address contains a character"),
    (lambda d: d.create_team("emea\x00"), "the team name contains a character"),
    (lambda d: d.create_team("emea", {"en": "EMEA\ud800"}), "the label contains a character"),
    (lambda d: d.create_user("bob", password="long enough pass\ud800"),
     "the password is not acceptable: it contains a character that cannot be stored"),
])
def test_unknown_roles_permission_sets_and_unstorable_text_are_refused(directory, call, message):
    with pytest.raises(UserError) as caught:
        call(directory)
    assert caught.value.message.startswith(message)
    assert [user.username for user in directory.list()] in ([], ["bob"])
    assert directory.permission_sets_of(1) == frozenset()


@pytest.mark.parametrize("username, password", [("bo\ud800b", PASSWORD), ("bo\x00b", PASSWORD),
                                                ("alice", "correct horse\x00"), ("alice", "correct \udfff")])
def test_a_sign_in_with_unstorable_text_fails_like_any_other(directory, crm, username, password):
    from crmkit.engine.security.authentication import Authenticator, LoginFailed

    directory.create_user("alice", password=PASSWORD)
    with pytest.raises(LoginFailed):
        Authenticator(crm).login(username, password)
    assert directory.by_username(username) is None or username == "alice"
