"""Attack9 on account administration as operations of the session (commit 7c59c8d, SystemDirectory(context=...)).

UserAdministration checked the acting user's rights in reads of their own (`_require`: `refresh_rights`, then
`_admins()`, `_actor_sets()`, ...), and only then called SystemDirectory, whose write was a new operation
(`context.writing()`). That write's operation read (`UserContext._start_operation`) loads the rights again when the
version moved, silently, and checks nothing. So a change committed by another process between the checks and the
write was taken in unchecked, and the write went ahead with rights the acting user no longer held:

- an administrator whose `admin` set was taken back after `_require` still granted `admin` to someone;
- two administrators taking `admin` from each other at the same time both passed "the last administrator keeps
  `admin`" and left none (and the second revoke was made by a user who was no administrator any more).

Here the other process's change runs on a thread of its own, started while the acting user's change is between its
checks and its write, and is given `WAIT` seconds to commit meanwhile. Either it commits then, and the acting user's
change must be refused, or it waits for that change to end (they are serialized), and comes after it. Both
databases (the checks and the write were separate operations on each).
"""
from __future__ import annotations

import threading
from typing import Callable

from sqlalchemy import event

from crmkit.engine import Crm
from crmkit.engine.security.access import PermissionDenied, RightsChanged
from crmkit.engine.security.account import MyAccount
from crmkit.engine.security.administration import UserAdministration
from crmkit.engine.security.users import SystemDirectory, UserError
from tests.security.test_attack8_rights_in_transactions import admins  # noqa: F401 (fixture)
from tests.security.test_operation_start import PASSWORD, desk, other_process  # noqa: F401 (fixtures)

#: Seconds the other process is given to commit while the acting user's change is under way.
WAIT = 2.0


class Meanwhile:
    """One step of another process (its own Crm), run on a thread of its own while this one is inside a change.

    `start` gives it WAIT seconds (`committed_meanwhile` says whether it ended in them); `finish`, once the change
    is over, waits for the rest (on PostgreSQL cancelling its statements if it is still blocked, so no test hangs).
    `outcome` is "done" or the error it ended with.
    """

    def __init__(self, other: Crm) -> None:
        self.other = other
        self.pids: list[int] = []
        self.outcome: object = None
        self.committed_meanwhile = False
        self.thread: threading.Thread | None = None
        if other.engine.dialect.name == "postgresql":
            event.listen(other.engine.pool, "checkout", self._checked_out)

    def _checked_out(self, dbapi_connection, record, proxy) -> None:
        self.pids.append(dbapi_connection.info.backend_pid)

    def start(self, step: Callable[[], object]) -> None:
        def run() -> None:
            try:
                step()
                self.outcome = "done"
            except Exception as error:  # noqa: BLE001 (the test says which ones it expects)
                self.outcome = error

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        self.thread.join(WAIT)
        self.committed_meanwhile = not self.thread.is_alive() and self.outcome == "done"

    def finish(self) -> None:
        assert self.thread is not None, "the other process's step never started"
        self.thread.join(10)
        hung = self.thread.is_alive()
        if hung and self.pids:
            import psycopg

            with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as admin:
                for pid in set(self.pids):
                    admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
            self.thread.join(10)
        assert not hung, "the other process's step was still blocked after the change ended"


def test_an_administrator_whose_admin_set_is_taken_back_during_the_checks_grants_nothing(
        crm, desk, admins, other_process, monkeypatch):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    administration = UserAdministration(context)
    checked = UserAdministration._require_grantable
    meanwhile = Meanwhile(other_process.crm)

    def revoked_during_the_checks(self, permission_set):
        checked(self, permission_set)
        meanwhile.start(lambda: other_process.revoke("admin", user_id=admins["adm1"]))

    monkeypatch.setattr(UserAdministration, "_require_grantable", revoked_during_the_checks)
    try:
        administration.grant("admin", user_id=desk["rep"])
    except (RightsChanged, PermissionDenied):
        pass
    meanwhile.finish()
    assert meanwhile.outcome == "done"  # the revoke is made, during the checks or after the grant
    assert "admin" not in SystemDirectory(crm).permission_sets_of(admins["adm1"])
    if meanwhile.committed_meanwhile:  # adm1 was no administrator when the grant was written
        assert "admin" not in SystemDirectory(crm).permission_sets_of(desk["rep"])


def test_two_administrators_taking_admin_from_each_other_leave_one(
        crm, desk, admins, other_process, monkeypatch):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    administration = UserAdministration(context)
    keep = UserAdministration._keep_an_administrator
    meanwhile = Meanwhile(other_process.crm)

    def the_other_revokes_meanwhile(before, after, change):
        keep(before, after, change)  # each one's check: themselves stay, so the other may go
        if meanwhile.thread is not None:
            return
        other_administration = UserAdministration(other_process.crm.as_user(admins["adm2"]))
        # adm2's check: adm2 stays, so adm1 may go
        meanwhile.start(lambda: other_administration.revoke("admin", user_id=admins["adm1"]))

    monkeypatch.setattr(UserAdministration, "_keep_an_administrator", staticmethod(the_other_revokes_meanwhile))
    try:
        administration.revoke("admin", user_id=admins["adm2"])
    except (RightsChanged, PermissionDenied, UserError):
        pass
    meanwhile.finish()
    left = SystemDirectory(crm).permission_sets_held([admins["adm1"], admins["adm2"]])
    assert any("admin" in held.all for held in left.values()), left
    assert isinstance(meanwhile.outcome, (RightsChanged, PermissionDenied, UserError)), meanwhile.outcome


def test_an_administrator_changing_a_user_while_the_user_changes_their_own_settings_neither_is_refused(
        crm, desk, admins, other_process, monkeypatch):  # noqa: F811
    """The administrator's change holds the rights version before it writes the user's row; the user's own change
    writes that row and then advances the version: taken in the other order, each would wait for the other (on
    PostgreSQL a deadlock, broken by refusing one of them)."""
    rep = crm.as_user(desk["rep"])
    changed = SystemDirectory._change
    meanwhile = Meanwhile(other_process.crm)

    def the_administrator_changes_them_meanwhile(self, connection, *args, **kwargs):
        changed(self, connection, *args, **kwargs)  # the user's row is written, the rights version not yet
        if meanwhile.thread is None:
            administration = UserAdministration(other_process.crm.as_user(admins["adm1"]))
            meanwhile.start(lambda: administration.update_user(desk["rep"], display_name="Rep Li"))

    monkeypatch.setattr(SystemDirectory, "_change", the_administrator_changes_them_meanwhile)
    with rep.transaction():
        MyAccount(rep).set_preferences(language="zh")
    meanwhile.finish()
    assert meanwhile.outcome == "done", meanwhile.outcome
    user = SystemDirectory(crm).get(desk["rep"])
    assert (user.language, user.display_name) == ("zh", "Rep Li")
