"""User administration and a user's own account, through services that check the acting user's rights."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert

from crmkit.engine.security.access import PermissionDenied, UnknownUser
from crmkit.engine.security.account import MyAccount
from crmkit.engine.security.administration import UserAdministration
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.authentication import Authenticator
from crmkit.engine.security.users import SystemDirectory, UserError

PASSWORD = "correct horse battery staple"


def admin_of(office, name="admin"):
    return UserAdministration(office.session(name))


def user_manager(office):
    """A user who holds manage_users but not the admin permission set (and sells, as the reps do)."""
    manager = SystemDirectory(office.crm).create_user("keeper", permission_sets=["user_manager", "selling"]).id
    return manager, UserAdministration(office.crm.as_user(manager))


def test_an_administrator_manages_users_and_each_change_is_logged_with_who_did_it(office):
    admin = admin_of(office)
    wang = admin.create_user("wang", role="rep", language="zh", timezone="Asia/Shanghai", permission_sets=["finance"])
    assert "wang" in [user.username for user in admin.users()]
    assert admin.permission_sets_of(wang.id) == {"finance", "selling"}
    admin.set_role(wang.id, "manager")
    admin.grant("memo_reader", user_id=wang.id)
    admin.revoke("finance", user_id=wang.id)
    admin.add_to_team(office.north, wang.id)
    assert admin.teams_of(wang.id) == [office.north]
    admin.update_user(wang.id, display_name="王先生")
    admin.deactivate(wang.id)
    assert admin.users(active_only=True) == [user for user in admin.users() if user.username != "wang"]
    admin.activate(wang.id)
    generated = admin.reset_password(wang.id)
    assert len(generated) >= 20 and Authenticator(office.crm).login("wang", generated).user.id == wang.id
    user = admin.user(wang.id)
    assert (user.role, user.display_name, user.language, user.active) == ("manager", "王先生", "zh", True)
    events = [(entry["event"], entry["detail"]["by"]) for entry in SecurityLog(office.crm).entries(user_id=wang.id)
              if entry["event"] != "login.succeeded"]
    assert {event for event, _ in events} >= {"user.created", "role.changed", "permission.granted",
                                              "permission.revoked", "user.deactivated", "user.activated",
                                              "password.changed", "preferences.changed"}
    assert {by for _, by in events} == {office.ids["admin"]}


def test_a_user_without_manage_users_is_refused_every_call_and_nothing_changes(office):
    rep = admin_of(office, "rep_a")
    target = office.ids["rep_b"]
    calls = [lambda: rep.users(), lambda: rep.user(target), lambda: rep.create_user("mallory"),
             lambda: rep.deactivate(target), lambda: rep.activate(target), lambda: rep.set_role(target, "manager"),
             lambda: rep.grant("admin", user_id=office.ids["rep_a"]), lambda: rep.revoke("selling", role="rep"),
             lambda: rep.reset_password(target, "a new long passphrase"), lambda: rep.create_team("evil"),
             lambda: rep.add_to_team(office.north, target), lambda: rep.update_user(target, language="zh"),
             lambda: rep.permission_sets_of(target), lambda: rep.teams_of(target)]
    for call in calls:
        with pytest.raises(PermissionDenied) as refused:
            call()
        assert refused.value.status == 403
        assert refused.value.message == "managing users needs the manage_users permission; ask an administrator."
    directory = SystemDirectory(office.crm)
    assert directory.by_username("mallory") is None and directory.get(target).active
    assert "admin" not in directory.permission_sets_of(office.ids["rep_a"])


def test_rights_are_read_again_at_every_call(office):
    manager, keeper = user_manager(office)
    assert keeper.users()
    SystemDirectory(office.crm).revoke("user_manager", user_id=manager)
    with pytest.raises(PermissionDenied):
        keeper.users()


def test_a_user_manager_who_is_not_an_administrator_cannot_raise_rights_or_take_over_an_administrator(office):
    manager, keeper = user_manager(office)
    rep_b = office.ids["rep_b"]
    SystemDirectory(office.crm).grant("memo_reader", user_id=manager)
    keeper.grant("memo_reader", user_id=rep_b)  # a set the manager holds, without platform permissions, is fine
    keeper.set_role(rep_b, "manager")  # a role whose sets (selling) the manager holds
    for attempt in (lambda: keeper.grant("admin", user_id=manager), lambda: keeper.grant("user_manager", user_id=rep_b),
                    lambda: keeper.grant("admin", role="rep"), lambda: keeper.create_user("x", permission_sets=["admin"]),
                    lambda: keeper.revoke("user_manager", user_id=manager)):
        with pytest.raises(PermissionDenied, match="only an administrator can grant or revoke|your own access"):
            attempt()
    admin = office.ids["admin"]
    for attempt in (lambda: keeper.reset_password(admin, "a takeover passphrase"), lambda: keeper.deactivate(admin),
                    lambda: keeper.update_user(admin, display_name="pwned"), lambda: keeper.revoke("admin", user_id=admin)):
        with pytest.raises(PermissionDenied, match="only an administrator|only an administrator can grant"):
            attempt()
    assert "admin" not in SystemDirectory(office.crm).permission_sets_of(manager)
    assert SystemDirectory(office.crm).get(admin).display_name == "admin"


def test_a_user_manager_grants_only_what_they_hold_and_never_to_themselves_or_their_own_role(office):
    manager, keeper = user_manager(office)
    directory = SystemDirectory(office.crm)
    rep_b = office.ids["rep_b"]
    with pytest.raises(PermissionDenied, match="only permission sets you hold yourself, and 'finance'"):
        keeper.grant("finance", user_id=rep_b)  # else: grant it to rep_b, reset rep_b's password, sign in as rep_b
    with pytest.raises(PermissionDenied, match="only permission sets you hold yourself"):
        keeper.create_user("newcomer", permission_sets=["memo_reader"])
    with pytest.raises(PermissionDenied, match="your own access"):
        keeper.grant("memo_reader", user_id=manager)
    directory.set_role(manager, "rep")
    directory.grant("memo_reader", user_id=manager)
    with pytest.raises(PermissionDenied, match="your own role"):
        keeper.grant("memo_reader", role="rep")
    with pytest.raises(PermissionDenied, match="your own access"):
        keeper.set_role(manager, "manager")
    assert directory.permission_sets_of(manager) == {"user_manager", "selling", "memo_reader"}
    assert "finance" not in directory.permission_sets_of(rep_b)


def test_a_user_manager_cannot_take_over_an_account_holding_more_than_they_do(office):
    _, keeper = user_manager(office)
    finance = office.ids["finance"]  # holds finance (protected fields), which the manager does not
    for attempt in (lambda: keeper.reset_password(finance), lambda: keeper.deactivate(finance),
                    lambda: keeper.update_user(finance, email="mine@example.com"),
                    lambda: keeper.set_role(finance, None), lambda: keeper.revoke("finance", user_id=finance)):
        with pytest.raises(PermissionDenied, match="holds permission sets you do not \\(finance\\)"):
            attempt()
    assert SystemDirectory(office.crm).get(finance).email is None


def test_nobody_sets_their_own_password_through_user_administration(office):
    admin = admin_of(office)
    with pytest.raises(PermissionDenied, match="your settings page"):
        admin.reset_password(office.ids["admin"], "another long passphrase here")
    manager, keeper = user_manager(office)
    with pytest.raises(PermissionDenied, match="your settings page"):
        keeper.reset_password(manager)


def test_a_role_that_carries_platform_permissions_is_given_only_by_an_administrator(office):
    _, keeper = user_manager(office)
    rep_b = office.ids["rep_b"]
    with pytest.raises(PermissionDenied, match="'user_manager': it carries platform permissions"):
        keeper.set_role(rep_b, "it_lead")  # the role holds user_manager
    with pytest.raises(PermissionDenied):
        keeper.create_user("lead", role="it_lead")
    admin_of(office).set_role(rep_b, "it_lead")
    assert UserAdministration(office.session("rep_b")).users()  # the role's set lets them manage users


def test_nobody_deactivates_themselves_and_the_last_administrator_stays_one(office):
    admin = admin_of(office)
    me = office.ids["admin"]
    with pytest.raises(UserError, match="cannot deactivate your own account"):
        admin.deactivate(me)
    with pytest.raises(UserError, match="last active administrator"):
        admin.revoke("admin", user_id=me)
    second = admin.create_user("second", permission_sets=["admin"])
    admin.revoke("admin", user_id=second.id)
    admin.grant("admin", user_id=second.id)
    UserAdministration(office.crm.as_user(second.id)).revoke("admin", user_id=me)  # another remains: allowed
    with pytest.raises(UserError, match="last active administrator"):
        UserAdministration(office.crm.as_user(second.id)).revoke("admin", user_id=second.id)


def test_the_system_session_may_do_everything_as_the_command_line_does(office):
    system = UserAdministration(office.crm.as_system())
    bot = system.create_user("bot", permission_sets=["admin"])
    system.deactivate(bot.id)
    assert not system.user(bot.id).active
    entry = SecurityLog(office.crm).entries(event="user.deactivated", user_id=bot.id)[0]
    assert entry["detail"]["by"] is None


def test_a_user_sets_their_own_language_and_time_zone(office):
    mine = MyAccount(office.session("rep_a"))
    changed = mine.set_preferences(language="zh-cn", timezone="Asia/Shanghai")
    assert (changed.language, changed.timezone) == ("zh-CN", "Asia/Shanghai")
    assert office.crm.as_user(office.ids["rep_a"]).actor.timezone == "Asia/Shanghai"
    with pytest.raises(UserError, match="not a time zone"):
        mine.set_preferences(timezone="Mars/Olympus")
    assert mine.profile().timezone == "Asia/Shanghai"
    with pytest.raises(UserError, match="no account of its own"):
        MyAccount(office.crm.as_system())


def test_a_deactivated_user_cannot_use_their_account_service(office):
    mine = MyAccount(office.session("rep_a"))
    SystemDirectory(office.crm).deactivate(office.ids["rep_a"])
    with pytest.raises(UnknownUser):
        mine.set_preferences(language="zh")


@pytest.mark.parametrize("service, page", [
    ("crmkit.engine.saved_views:SavedViews", "saved-views.md"),
    ("crmkit.engine.recent_items:RecentItems", "recent-items.md"),
    ("crmkit.engine.security.administration:UserAdministration", "user-administration.md"),
    ("crmkit.engine.security.account:MyAccount", "user-administration.md"),
])
def test_every_public_method_of_the_ui_services_is_documented(service, page):
    import importlib
    from pathlib import Path

    module, _, name = service.partition(":")
    cls = getattr(importlib.import_module(module), name)
    text = (Path(__file__).resolve().parents[2] / "docs" / page).read_text(encoding="utf-8")
    methods = [attribute for attribute in vars(cls) if not attribute.startswith("_") and callable(getattr(cls, attribute))]
    assert methods and [method for method in methods if f".{method}(" not in text] == []


def test_without_any_administrator_the_last_administrator_rule_does_not_get_in_the_way(office):
    SystemDirectory(office.crm).revoke("admin", user_id=office.ids["admin"])  # the command line may leave none
    system = UserAdministration(office.crm.as_system())
    system.set_role(office.ids["rep_b"], "manager")
    system.deactivate(office.ids["rep_b"])
    assert system.user(office.ids["rep_b"]).role == "manager"


# -- which permission sets a user holds: one reading for the checks, the directory and the pages --


def test_every_reader_of_a_users_permission_sets_agrees_with_the_access_checks(office):
    """rep_a holds `selling` only because the metadata lists role `rep` under `roles:`."""
    directory, admin = SystemDirectory(office.crm), admin_of(office)
    rep_a, finance = office.ids["rep_a"], office.ids["finance"]
    directory.grant("memo_reader", role="rep")
    for user_id in (rep_a, finance, office.ids["boss"], office.ids["admin"]):
        checks = office.crm.as_user(user_id).policy.user.permission_sets
        assert directory.permission_sets_of(user_id) == admin.permission_sets_of(user_id) == checks
    assert directory.permission_sets_of(rep_a) == {"selling", "memo_reader"}
    held = admin.permission_sets_held([rep_a, finance])
    assert (held[rep_a].direct, held[rep_a].through_role) == (frozenset(), {"selling", "memo_reader"})
    assert (held[finance].direct, held[finance].only_through_role) == ({"finance"}, {"selling", "memo_reader"})


def test_the_role_hierarchy_lists_metadata_roles_under_their_parents_and_roles_only_the_database_names(office):
    directory = SystemDirectory(office.crm)
    directory.grant("memo_reader", role="rep")
    grants = office.crm.runtime.system_table("crmkit_grant")
    with office.crm.engine.begin() as connection:  # left by a package uninstalled since: no longer defined
        connection.execute(insert(grants).values(permission_set="finance", role="retired_role",
                                                 granted_at=datetime.now(timezone.utc)))
    roles = {role.name: role for role in admin_of(office).roles()}
    assert [(role.name, role.depth, role.defined) for role in admin_of(office).roles()] == [
        ("it_lead", 0, True), ("manager", 0, True), ("rep", 1, True), ("retired_role", 0, False)]
    assert roles["rep"].permission_sets.direct == {"memo_reader"}
    assert roles["rep"].permission_sets.through_role == {"selling"}
    assert roles["it_lead"].permission_sets.through_role == {"user_manager"}
    assert roles["rep"].label.get("zh") == "销售代表" and roles["retired_role"].label is None


def test_users_are_found_by_name_username_or_email_a_page_at_a_time(office):
    admin = admin_of(office)
    admin.update_user(office.ids["boss"], display_name="Big Boss", email="chief@example.com")
    assert [user.username for user in admin.find_users("CHIEF").users] == ["boss"]
    assert [user.username for user in admin.find_users("big b").users] == ["boss"]
    assert [user.username for user in admin.find_users("rep_").users] == ["rep_a", "rep_b"]
    assert admin.find_users("100%_").users == ()  # LIKE wildcards are plain text
    first = admin.find_users(limit=2)
    assert [user.username for user in first.users] == ["admin", "boss"] and first.after == "boss"
    rest = admin.find_users(after=first.after, limit=10)
    assert [user.username for user in rest.users] == ["finance", "rep_a", "rep_b"] and rest.after is None
    admin.deactivate(office.ids["rep_b"])
    assert [user.username for user in admin.find_users("rep", active=False).users] == ["rep_b"]
    assert [user.username for user in admin.find_users("rep", active=True).users] == ["rep_a"]
    admin.update_user(office.ids["boss"], email="")
    assert admin.user(office.ids["boss"]).email is None


def test_teams_and_their_members_are_read_through_the_checked_service(office):
    admin = admin_of(office)
    south = admin.create_team("south", {"en": "South", "zh": "南区"})
    admin.add_to_team(south, office.ids["rep_a"])
    assert [team.name for team in admin.teams()] == ["north", "south"]
    assert [user.username for user in admin.team_members(office.north)] == ["finance", "rep_a"]
    memberships = admin.team_memberships([office.ids["rep_a"], office.ids["boss"]])
    assert [team.name for team in memberships[office.ids["rep_a"]]] == ["north", "south"]
    assert memberships[office.ids["boss"]] == []
    with pytest.raises(UserError, match="no team with id 999") as unknown:
        admin.team(999)
    assert unknown.value.field == "team"
    rep = admin_of(office, "rep_a")
    for call in (rep.teams, lambda: rep.team_members(south), lambda: rep.find_users(), rep.roles,
                 lambda: rep.permission_sets_held([office.ids["rep_b"]]), rep.require):
        with pytest.raises(PermissionDenied):
            call()
    assert not rep.allowed() and admin.allowed()


def test_a_refused_account_change_names_the_input_it_is_about(office):
    admin = admin_of(office)
    cases = [(lambda: admin.create_user("x"), "username"), (lambda: admin.create_user("rep_a"), "username"),
             (lambda: admin.create_user("ok_name", email="nope"), "email"),
             (lambda: admin.create_user("ok_name", language="xx-zz-1"), "language"),
             (lambda: admin.create_user("ok_name", timezone="Mars/Olympus"), "timezone"),
             (lambda: admin.create_user("ok_name", password="short"), "password"),
             (lambda: admin.create_user("ok_name", role="pilot"), "role"),
             (lambda: admin.update_user(office.ids["boss"], display_name=" "), "display_name")]
    for call, field in cases:
        with pytest.raises(UserError) as refused:
            call()
        assert refused.value.field == field, refused.value.message


def test_the_last_active_administrator_cannot_be_deactivated_even_by_the_system_session(office):
    system = UserAdministration(office.crm.as_system())
    with pytest.raises(UserError, match="last active administrator"):
        system.deactivate(office.ids["admin"])
    with pytest.raises(UserError, match="last active administrator"):
        system.revoke("admin", user_id=office.ids["admin"])
    assert system.user(office.ids["admin"]).active
