"""A signed-in user changes their own password, language and time zone (the web UI's settings page)."""
from __future__ import annotations

import pytest

from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.authentication import (
    Authenticator, CurrentPasswordWrong, LoginFailed, LoginThrottled, SessionEnded,
)
from crmkit.engine.security.users import UserError

PASSWORD = "correct horse battery"
NEW = "a brand new passphrase"
HOME = "203.0.113.9"


@pytest.fixture
def auth(crm, clock):
    return Authenticator(crm, clock=clock)


@pytest.fixture
def alice(directory):
    return directory.create_user("alice", password=PASSWORD)


def test_changing_the_own_password_keeps_this_session_and_ends_the_others(auth, alice):
    here, elsewhere = auth.login("alice", PASSWORD), auth.login("alice", PASSWORD)
    auth.change_password(here.token, PASSWORD, NEW, address=HOME)
    assert auth.session_user(here.token).id == alice.id
    assert auth.session_user(elsewhere.token) is None
    with pytest.raises(LoginFailed):
        auth.login("alice", PASSWORD)
    assert auth.login("alice", NEW).user.id == alice.id


def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_sign_in(auth, alice, crm):
    here = auth.login("alice", PASSWORD)
    with pytest.raises(CurrentPasswordWrong, match="current password is incorrect"):
        auth.change_password(here.token, "not my password at all", NEW, address=HOME)
    assert auth.login("alice", PASSWORD).user.id == alice.id
    assert [entry["event"] for entry in SecurityLog(crm).entries(event="password_change.failed")] == [
        "password_change.failed"]


def test_guessing_the_current_password_is_throttled_like_sign_ins(auth, alice, clock):
    here = auth.login("alice", PASSWORD)
    clock.advance(seconds=1)  # failures count from the user's last successful sign-in on
    for _ in range(auth.max_failures):
        with pytest.raises(CurrentPasswordWrong):
            auth.change_password(here.token, "a wrong guess here", NEW, address=HOME)
    with pytest.raises(LoginThrottled):
        auth.change_password(here.token, PASSWORD, NEW, address=HOME)


def test_one_users_wrong_current_passwords_do_not_lock_out_colleagues_at_the_same_address(auth, alice, directory,
                                                                                          clock):
    directory.create_user("bob", password=PASSWORD)
    here = auth.login("alice", PASSWORD, address=HOME)
    clock.advance(seconds=1)
    for _ in range(auth.max_failures):
        with pytest.raises(CurrentPasswordWrong):
            auth.change_password(here.token, "a wrong guess here", NEW, address=HOME)
    assert auth.login("bob", PASSWORD, address=HOME).user.username == "bob"
    with pytest.raises(LoginThrottled):  # alice's own guessing stays throttled
        auth.change_password(here.token, PASSWORD, NEW, address="198.51.100.7")


def test_a_new_password_the_policy_refuses_is_a_sentence(auth, alice):
    here = auth.login("alice", PASSWORD)
    with pytest.raises(UserError, match="fewer than 12 characters"):
        auth.change_password(here.token, PASSWORD, "short", address=HOME)


def test_an_ended_session_cannot_change_the_password(auth, alice):
    here = auth.login("alice", PASSWORD)
    auth.logout(here.token)
    with pytest.raises(SessionEnded):
        auth.change_password(here.token, PASSWORD, NEW)


def test_language_and_time_zone_are_checked_stored_and_logged(directory, alice, crm):
    changed = directory.set_preferences(alice.id, language="zh_cn", timezone="Asia/Shanghai", actor_id=alice.id)
    assert (changed.language, changed.timezone) == ("zh-CN", "Asia/Shanghai")
    assert crm.as_user(alice.id).actor.language == "zh-CN"
    [entry] = SecurityLog(crm).entries(event="preferences.changed")
    assert entry["detail"] == {"by": alice.id, "language": "zh-CN", "timezone": "Asia/Shanghai"}


@pytest.mark.parametrize("change, message", [
    ({"language": "klingon"}, "not a known language"),
    ({"timezone": "Mars/Olympus"}, "not a time zone"),
    # Names zoneinfo knows that name no place, or only alias one: refused in the engine.
    ({"timezone": "localtime"}, "not a time zone"),
    ({"timezone": "Factory"}, "not a time zone"),
    ({"timezone": "posixrules"}, "not a time zone"),
    ({"timezone": "Etc/GMT+8"}, "not a time zone"),
    ({"timezone": "SystemV/PST8PDT"}, "not a time zone"),
    ({"timezone": "US/Pacific"}, "old name of a time zone; use 'America/Los_Angeles' instead"),
    ({"timezone": "PRC"}, "use 'Asia/Shanghai' instead"),
    ({"timezone": ""}, "not a time zone"),
])
def test_an_unknown_language_or_time_zone_changes_nothing(directory, alice, change, message):
    with pytest.raises(UserError, match=message):
        directory.set_preferences(alice.id, **change)
    assert (directory.get(alice.id).language, directory.get(alice.id).timezone) == ("en", "UTC")


def test_the_time_zones_offered_are_the_places_of_the_iana_database_and_utc():
    from crmkit.engine.security.timezones import canonical_timezones

    zones = canonical_timezones()
    assert {"UTC", "Asia/Shanghai", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Europe/Amsterdam"} <= zones
    assert not zones & {"localtime", "Factory", "posixrules", "Etc/GMT+8", "US/Pacific", "PRC", "GMT", "Etc/UTC"}
    assert 300 < len(zones) < 500


def test_my_account_and_user_administration_refuse_a_zone_that_names_no_place(crm, directory, alice):
    from crmkit.engine.security.account import MyAccount
    from crmkit.engine.security.administration import UserAdministration

    admin = directory.create_user("boss", password=PASSWORD, permission_sets=["admin"])
    with pytest.raises(UserError, match="not a time zone"):
        MyAccount(crm.as_user(alice.id)).set_preferences(timezone="localtime")
    with pytest.raises(UserError, match="not a time zone"):
        UserAdministration(crm.as_user(admin.id)).update_user(alice.id, timezone="Factory")
    with pytest.raises(UserError, match="not a time zone"):
        UserAdministration(crm.as_user(admin.id)).create_user("carol", timezone="Etc/GMT-14")
    assert directory.get(alice.id).timezone == "UTC"


def test_a_zone_stored_before_the_list_narrowed_may_stay_while_other_preferences_change(crm, directory, alice):
    from sqlalchemy import update

    users = crm.runtime.system_table("crmkit_user")
    with crm.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == alice.id).values(timezone="US/Pacific"))
    changed = directory.set_preferences(alice.id, language="zh", timezone="US/Pacific")
    assert (changed.language, changed.timezone) == ("zh", "US/Pacific")
