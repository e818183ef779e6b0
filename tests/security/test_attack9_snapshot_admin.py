"""Attack9: account administration inside `UserContext.snapshot()` (commit 7c59c8d).

Since SystemDirectory reads through the session (`context.reading()`), its reads inside a snapshot are the
snapshot's: the database as it was when the block began. Its writes are each a transaction of their own
(`context.writing()` outside a transaction), committed at once. Before, every read was a connection of its own and
saw those writes. So inside one snapshot:

- `create_user` commits the user, then reads it back on the snapshot, which does not hold it: UserError "no user",
  although the account was created (the caller is told it failed);
- the last-administrator check (`UserAdministration._admins`) reads the admin set as it was at the block's start:
  an administrator who took `admin` from the other one may then take it from themselves, leaving none.

Both databases.
"""
from __future__ import annotations


from crmkit.engine.security.administration import UserAdministration
from crmkit.engine.security.users import SystemDirectory, UserError
from tests.security.test_attack8_rights_in_transactions import admins  # noqa: F401 (fixture)
from tests.security.test_operation_start import PASSWORD, desk  # noqa: F401 (fixtures)




def test_creating_a_user_inside_a_snapshot_returns_the_user_it_created(crm, admins):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    with context.snapshot():
        created = UserAdministration(context).create_user("newbie", password=PASSWORD)
    assert created.username == "newbie"


def test_two_revokes_inside_one_snapshot_leave_an_administrator(crm, admins):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    administration = UserAdministration(context)
    with context.snapshot():
        administration.users()  # the page's first read starts the snapshot
        administration.revoke("admin", user_id=admins["adm2"])
        try:
            administration.revoke("admin", user_id=admins["adm1"])
        except UserError:
            pass  # "the last administrator keeps admin": what should happen
    held = SystemDirectory(crm).permission_sets_held([admins["adm1"], admins["adm2"]])
    assert any("admin" in sets.all for sets in held.values()), held
