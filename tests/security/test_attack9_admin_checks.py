"""Attack9 on account administration as operations of the session (commit 7c59c8d, SystemDirectory(context=...)).

UserAdministration checks the acting user's rights in reads of their own (`_require`: `refresh_rights`, then
`_admins()`, `_actor_sets()`, ...), and only then calls SystemDirectory, whose write is a new operation
(`context.writing()`). That write's operation read (`UserContext._start_operation`) loads the rights again when the
version moved, silently, and checks nothing: the final check (`_rights_still_held`) only compares the version with
the one that operation read. So a change committed by another process between the checks and the write is taken in
unchecked, and the write goes ahead with rights the acting user no longer holds:

- an administrator whose `admin` set was taken back after `_require` still grants `admin` to someone;
- two administrators taking `admin` from each other at the same time both pass "the last administrator keeps
  `admin`" and leave none (and the second revoke is made by a user who is no administrator any more).

Both databases (the checks and the write are separate operations on each).
"""
from __future__ import annotations

import pytest

from crmkit.engine.security.access import PermissionDenied, RightsChanged
from crmkit.engine.security.administration import UserAdministration
from crmkit.engine.security.users import SystemDirectory, UserError
from tests.security.test_attack8_rights_in_transactions import admins  # noqa: F401 (fixture)
from tests.security.test_operation_start import PASSWORD, desk, other_process  # noqa: F401 (fixtures)




@pytest.mark.xfail(strict=True, reason="attack9: a revoke committed between UserAdministration's checks and its "
                                       "write is taken in silently by the write's operation read: a user who is no "
                                       "administrator any more grants `admin`")
def test_an_administrator_whose_admin_set_is_taken_back_after_the_checks_grants_nothing(
        crm, desk, admins, other_process, monkeypatch):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    administration = UserAdministration(context)
    checked = UserAdministration._require_grantable

    def revoked_after_the_checks(self, permission_set):
        checked(self, permission_set)
        other_process.revoke("admin", user_id=admins["adm1"])  # committed by another process, before the write

    monkeypatch.setattr(UserAdministration, "_require_grantable", revoked_after_the_checks)
    try:
        administration.grant("admin", user_id=desk["rep"])
    except (RightsChanged, PermissionDenied):
        pass
    assert "admin" not in SystemDirectory(crm).permission_sets_of(desk["rep"])


@pytest.mark.xfail(strict=True, reason="attack9: two administrators revoking each other's `admin` at once both pass "
                                       "the last-administrator check (separate reads before the write) and leave "
                                       "no administrator")
def test_two_administrators_taking_admin_from_each_other_leave_one(
        crm, desk, admins, other_process, monkeypatch):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    administration = UserAdministration(context)
    keep = UserAdministration._keep_an_administrator
    interleaved: list[bool] = []

    def the_other_revokes_meanwhile(before, after, change):
        keep(before, after, change)  # each one's check: themselves stay, so the other may go
        if interleaved:
            return
        interleaved.append(True)
        other_administration = UserAdministration(other_process.crm.as_user(admins["adm2"]))
        other_administration.revoke("admin", user_id=admins["adm1"])  # adm2's check: adm2 stays, so adm1 may go

    monkeypatch.setattr(UserAdministration, "_keep_an_administrator", staticmethod(the_other_revokes_meanwhile))
    try:
        administration.revoke("admin", user_id=admins["adm2"])
    except (RightsChanged, PermissionDenied, UserError):
        pass
    left = SystemDirectory(crm).permission_sets_held([admins["adm1"], admins["adm2"]])
    assert any("admin" in held.all for held in left.values()), left
