"""Every operation starts with one read on its own connection: the metadata generation and the rights version.

What another process changes (a revoked grant, a deactivated user) is refused by the very
next operation of a context that was made before the change; a bulk create follows the
rights batch by batch; and no operation reads either value a second time or on a second
connection (context.py, generation.py, security/rights.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from sqlalchemy import event, func, select

from crmkit.engine import Crm
from crmkit.engine.database import read_connection
from crmkit.engine.security.access import PermissionDenied, UnknownUser
from crmkit.engine.security.users import SystemDirectory

PACKAGE = """
package: desk
version: "1.0.0"
roles:
  boss: {label: {en: Boss}}
  rep: {parent: boss}
permission_sets:
  sales:
    roles: [boss, rep]
    objects:
      ticket: [create, read, edit, delete]
  exporting:
    objects:
      ticket: [read, export, import]
  margins:
    roles: [boss]
    fields:
      ticket.margin: [read]
objects:
  ticket:
    title_field: name
    sharing: private
    track_history: true
    fields:
      name: {type: text}
      rank: {type: integer}
      margin: {type: currency}
"""

PASSWORD = "a long passphrase 42"


@pytest.fixture
def desk(crm, install):
    install(PACKAGE)
    directory = SystemDirectory(crm)
    boss = directory.create_user("boss", password=PASSWORD, role="boss", permission_sets=["exporting"])
    rep = directory.create_user("rep", password=PASSWORD, role="rep", permission_sets=["exporting"])
    return {"boss": boss.id, "rep": rep.id}


@contextmanager
def counted(crm: Crm) -> Iterator[tuple[list[str], list[object]]]:
    """(statements sent, connections checked out) on `crm`'s engine while the block runs."""
    statements: list[str] = []
    checkouts: list[object] = []

    def executed(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    def checked_out(*args) -> None:
        checkouts.append(args)

    event.listen(crm.engine, "before_cursor_execute", executed)
    event.listen(crm.engine.pool, "checkout", checked_out)
    try:
        yield statements, checkouts
    finally:
        event.remove(crm.engine, "before_cursor_execute", executed)
        event.remove(crm.engine.pool, "checkout", checked_out)


@pytest.fixture
def other_process(database_url, desk):
    """Another process's Crm on the same database: its changes reach this one only through the database."""
    other = Crm.open(database_url)
    yield SystemDirectory(other)
    other.close()


def test_a_grant_revoked_in_another_process_is_refused_by_each_next_operation(crm, desk, other_process):
    rep = crm.as_user(desk["rep"])
    tickets = rep.records("ticket")  # kept across the change, as a worker keeps its services
    ticket = tickets.create({"name": "first"})
    other_process.revoke("exporting", user_id=desk["rep"])
    with pytest.raises(PermissionDenied, match="export"):
        tickets.export()
    with pytest.raises(PermissionDenied, match="import"):
        tickets.bulk_create([{"name": "many"}])
    with pytest.raises(PermissionDenied, match="import"):
        tickets.bulk_create([])
    assert tickets.get(ticket.id)["name"] == "first"  # what the sales set still gives is kept


def test_a_user_deactivated_in_another_process_is_refused_by_every_next_operation(crm, desk, other_process):
    rep = crm.as_user(desk["rep"])
    tickets = rep.records("ticket")
    ticket = tickets.create({"name": "mine"})
    other_process.deactivate(desk["rep"])
    for operation in (lambda: tickets.get(ticket.id), lambda: tickets.query(), lambda: tickets.count(),
                      lambda: tickets.history(ticket.id), lambda: tickets.create({"name": "x"}),
                      lambda: tickets.update(ticket.id, {"name": "y"}, version=ticket.version),
                      lambda: tickets.delete(ticket.id), lambda: tickets.export(),
                      lambda: tickets.bulk_create([{"name": "z"}]), lambda: rep.transaction().__enter__()):
        with pytest.raises(UnknownUser):
            operation()
    assert crm.as_system().records("ticket").count().value == 1


def test_a_bulk_create_follows_the_rights_batch_by_batch(crm, desk, other_process):
    tickets = crm.as_user(desk["rep"]).records("ticket")

    def rows():
        yield from ({"name": f"t{number}"} for number in range(3))  # the first batch
        other_process.revoke("exporting", user_id=desk["rep"])      # while the import runs
        yield from ({"name": f"t{number}"} for number in range(3, 6))

    with pytest.raises(PermissionDenied, match="import"):
        tickets.bulk_create(rows(), batch_size=3)
    stored = crm.as_system().records("ticket").query(sort=["name"]).records
    assert [record["name"] for record in stored] == ["t0", "t1", "t2"]


def test_an_operation_reads_the_generation_and_the_rights_version_once_on_its_own_connection(crm, desk):
    rep = crm.as_user(desk["rep"])
    tickets = rep.records("ticket")
    ticket = tickets.create({"name": "counted"})
    operations = (lambda: tickets.get(ticket.id), lambda: tickets.query(),
                  lambda: tickets.update(ticket.id, {"name": "again"}, version=tickets.get(ticket.id).version))
    for operation in operations:  # what a policy reads once and keeps (access.py) is read before counting
        operation()
    with counted(crm) as (statements, checkouts):
        for operation in operations[:2]:
            statements.clear()
            checkouts.clear()
            operation()
            state_reads = [sql for sql in statements if "crmkit_metadata_state" in sql or "crmkit_counter" in sql]
            assert len(checkouts) == 1, statements
            assert state_reads == [statements[0] if statements[0] != "BEGIN" else statements[1]]
            assert "crmkit_metadata_state" in state_reads[0] and "crmkit_counter" in state_reads[0]
        current = tickets.get(ticket.id)
        statements.clear()
        checkouts.clear()
        tickets.update(ticket.id, {"name": "last"}, version=current.version)
        state_reads = [sql for sql in statements if "crmkit_metadata_state" in sql or "crmkit_counter" in sql]
        assert len(checkouts) == 1 and "crmkit_metadata_state" in state_reads[0]
        if crm.engine.dialect.name == "postgresql":  # READ COMMITTED: the version asked again before it commits
            assert len(state_reads) == 2 and "crmkit_metadata_state" not in state_reads[1]
        else:  # the write lock held from its start: no change can commit meanwhile
            assert len(state_reads) == 1


def test_an_export_streamed_over_several_pages_keeps_the_order_rows_and_fields_of_the_list(crm, desk, monkeypatch):
    from crmkit.engine.records import export
    from crmkit.engine.security.audit import SecurityLog

    monkeypatch.setattr(export, "PAGE", 2)  # seven records: four fetches of one query
    system = crm.as_system().records("ticket")
    for number in range(7):
        system.create({"name": f"t{number}", "rank": (number * 5) % 3, "margin": number,
                       "owner_id": desk["rep"] if number % 2 else desk["boss"]})
    statements: list[str] = []

    def executed(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    for user, sees_margin, seen in (("rep", False, 3), ("boss", True, 7)):
        tickets = crm.as_user(desk[user]).records("ticket")
        listed = [(record.id, record["name"]) for record in tickets.query(sort=["rank", "-name"], limit=1000).records]
        event.listen(crm.engine, "before_cursor_execute", executed)
        try:
            statements.clear()
            exported = list(tickets.export(sort=["rank", "-name"], format="json"))
        finally:
            event.remove(crm.engine, "before_cursor_execute", executed)
        assert [(row["id"], row["name"]) for row in exported] == listed and len(listed) == seen
        assert all(("margin" in row) is sees_margin for row in exported)
        assert len([sql for sql in statements if "FROM ticket" in sql and "ORDER BY" in sql]) == 1
        completed = SecurityLog(crm).entries(event="records.export_completed", user_id=desk[user])
        assert completed[0]["detail"]["records"] == seen


def test_an_export_closed_early_releases_its_connection(crm, desk):
    tickets = crm.as_user(desk["boss"]).records("ticket")
    tickets.bulk_create([{"name": f"t{number}"} for number in range(5)])
    checked_out = crm.engine.pool.checkedout()
    stream = tickets.export(format="json")
    assert next(stream)["name"] == "t0" and crm.engine.pool.checkedout() == checked_out + 1
    stream.close()
    assert crm.engine.pool.checkedout() == checked_out
    assert list(stream) == []


def test_as_user_reuses_compiled_rights_until_another_process_changes_them(crm, desk, other_process):
    """A web request makes a context per request: the rights are compiled once, and a change
    anywhere (a revoked grant, a changed language, a deactivation) is in the next context."""
    first, second = crm.as_user(desk["rep"]), crm.as_user(desk["rep"])
    assert second.policy is first.policy and second.policy.can("ticket", "export")
    assert crm.as_user(desk["boss"]).policy is not first.policy
    other_process.revoke("exporting", user_id=desk["rep"])
    revoked = crm.as_user(desk["rep"])
    assert revoked.policy is not first.policy and not revoked.policy.can("ticket", "export")
    with pytest.raises(PermissionDenied, match="export"):
        revoked.records("ticket").export()
    other_process.set_preferences(desk["rep"], language="zh", timezone="Asia/Shanghai")
    assert crm.as_user(desk["rep"]).actor.language == "zh"
    other_process.deactivate(desk["rep"])
    with pytest.raises(UnknownUser):
        crm.as_user(desk["rep"])
    with pytest.raises(UnknownUser):
        crm.as_user(True)  # not the id 1, whatever is kept under it


def test_a_lazy_context_of_kept_rights_reads_nothing_until_used_and_then_follows_a_change(crm, desk, other_process):
    """A web request's context (its login session was just checked): the page's first engine call is the check."""
    crm.as_user(desk["rep"])  # compiles and keeps the rep's rights
    with counted(crm) as (statements, checkouts):
        lazy = crm.as_user(desk["rep"], lazy=True, language="zh")
    assert statements == [] and checkouts == [] and lazy.actor.language == "zh"
    other_process.revoke("exporting", user_id=desk["rep"])
    with counted(crm) as (statements, checkouts):
        with lazy.snapshot():
            assert not lazy.policy.can("ticket", "export")  # the snapshot's read saw the change
    assert len(checkouts) == 1
    with pytest.raises(PermissionDenied, match="export"):
        crm.as_user(desk["rep"], lazy=True).records("ticket").export()
    assert crm.as_user(desk["rep"], lazy=True).policy is lazy.policy  # the rights loaded again are kept for the next
    other_process.deactivate(desk["rep"])
    with pytest.raises(UnknownUser):
        crm.as_user(desk["rep"], lazy=True).records("ticket").query()


def test_a_snapshot_reads_on_one_connection_after_one_operation_read_and_keeps_the_row_filter(crm, desk, other_process):
    boss, rep = crm.as_user(desk["boss"]), crm.as_user(desk["rep"])
    boss.records("ticket").create({"name": "the boss's"})
    mine = rep.records("ticket").create({"name": "the rep's"})
    rep.records("ticket").query()  # what a policy reads once and keeps (access.py) is read before counting
    with counted(crm) as (statements, checkouts):
        with rep.snapshot():  # a page's reads: the list, its count, a record, the owners' names
            tickets = rep.records("ticket")
            assert [record.id for record in tickets.query().records] == [mine.id]
            assert tickets.count().value == 1
            assert tickets.get(mine.id)["name"] == "the rep's"
            assert set(rep.user_names([desk["rep"]])) == {desk["rep"]}
            with rep.snapshot():  # nested: the same connection
                assert "margin" not in tickets.get(mine.id)
            other_process.revoke("exporting", user_id=desk["rep"])
            tickets.query()  # the snapshot keeps the rights it started with, as a transaction does
    state_reads = [sql for sql in statements if "crmkit_metadata_state" in sql]
    assert len(checkouts) == 1 and len(state_reads) == 1, statements
    with pytest.raises(PermissionDenied, match="export"):  # the next operation after it reads the rights again
        rep.records("ticket").export()


def test_a_write_inside_a_snapshot_is_a_transaction_of_its_own(crm, desk):
    rep = crm.as_user(desk["rep"])
    with rep.snapshot():
        created = rep.records("ticket").create({"name": "written"})
    assert crm.as_user(desk["boss"]).records("ticket").get(created.id)["name"] == "written"


def test_a_snapshot_continues_a_read_lent_by_its_caller_and_ends_its_transaction(crm, desk):
    from crmkit.engine.security.authentication import Authenticator

    authenticator = Authenticator(crm)
    token = authenticator.login("rep", PASSWORD).token
    rep = crm.as_user(desk["rep"])
    mine = rep.records("ticket").create({"name": "the rep's"})
    rep.records("ticket").query()  # what a policy reads once and keeps (access.py) is read before counting
    with read_connection(crm.engine) as held:  # a web request's: its sign-in check reads on it
        with counted(crm) as (statements, checkouts):
            assert authenticator.session_user(token, connection=held).id == desk["rep"]
            context = crm.as_user(desk["rep"], lazy=True)
            context.lend_read(held)
            with context.snapshot():
                assert [record.id for record in context.records("ticket").query().records] == [mine.id]
        assert checkouts == []  # the sign-in check, the operation read and the page: one connection, the caller's
        assert statements.count("BEGIN") <= 1  # one transaction (SQLite's BEGIN; PostgreSQL's is implicit)
        assert len([sql for sql in statements if "crmkit_metadata_state" in sql]) == 1
        assert not held.closed and not held.in_transaction()  # left to its holder, with no read open on it


def test_a_write_first_ends_the_lent_read_and_the_snapshot_after_it_sees_its_write_a_read_continues_it(crm, desk):
    rep = crm.as_user(desk["rep"])
    rep.records("ticket").query()
    with read_connection(crm.engine) as held:
        assert held.execute(select(func.count()).select_from(crm.runtime.table("ticket"))).scalar_one() == 0
        rep.lend_read(held)
        created = rep.records("ticket").create({"name": "written after the lent read began"})
        assert not held.in_transaction()  # the write ended the lent read unused
        with counted(crm) as (statements, checkouts):
            with rep.snapshot():
                assert rep.records("ticket").get(created.id)["name"] == "written after the lent read began"
        assert len(checkouts) == 1  # a connection of its own, not the lent one's old read
    reader = crm.as_user(desk["boss"])
    reader.records("ticket").query()
    with read_connection(crm.engine) as held:
        held.execute(select(func.count()).select_from(crm.runtime.table("ticket"))).scalar_one()
        reader.lend_read(held)
        with counted(crm) as (statements, checkouts):
            reader.records("ticket").query()  # a read outside a snapshot first: it continues the lent read...
            assert checkouts == [] and not held.in_transaction() and not held.closed  # ...and ends it
            reader.records("ticket").query()  # the next read: on a connection of its own
            assert len(checkouts) == 1


def test_a_snapshot_starts_from_the_state_read_with_the_lent_read_and_follows_a_right_revoked_before_it(
        crm, desk, other_process):
    from crmkit.engine.context import operation_state_columns
    from crmkit.engine.security.authentication import Authenticator

    authenticator = Authenticator(crm)
    token = authenticator.login("rep", PASSWORD).token
    crm.as_user(desk["rep"]).records("ticket").export()  # rights with the export permission compiled and kept
    other_process.revoke("exporting", user_id=desk["rep"])
    with read_connection(crm.engine) as held:
        with counted(crm) as (statements, checkouts):
            user, state = authenticator.session_user_reading(token, operation_state_columns(crm.runtime),
                                                             connection=held)
            context = crm.as_user(user.id, lazy=True)  # made from the kept rights, without reading
            context.lend_read(held, state)
            with context.snapshot():
                with pytest.raises(PermissionDenied, match="export"):
                    context.records("ticket").export()
        state_reads = [sql for sql in statements if "crmkit_metadata_state" in sql]
        assert len(state_reads) == 1 and "crmkit_login_session" in state_reads[0] and checkouts == []


def test_rights_asked_for_before_the_snapshot_and_the_snapshot_both_start_from_the_lent_state(
        crm, desk, other_process):
    """A detail page asks for the user's rights (`policy`) before its snapshot: both start from the state read with
    the sign-in check, on the lent connection, so neither reads it again; a right revoked before that read is
    followed by both."""
    from crmkit.engine.context import operation_state_columns
    from crmkit.engine.security.authentication import Authenticator

    authenticator = Authenticator(crm)
    token = authenticator.login("rep", PASSWORD).token
    crm.as_user(desk["rep"]).records("ticket").export()  # rights with the export permission compiled and kept
    other_process.revoke("exporting", user_id=desk["rep"])
    with read_connection(crm.engine) as held:
        with counted(crm) as (statements, checkouts):
            user, state = authenticator.session_user_reading(token, operation_state_columns(crm.runtime),
                                                             connection=held)
            context = crm.as_user(user.id, lazy=True)
            context.lend_read(held, state)
            assert not context.policy.can("ticket", "export")  # the rights check: the revoke is seen
            with context.snapshot():
                assert context.records("ticket").query().records == []
                with pytest.raises(PermissionDenied, match="export"):
                    context.records("ticket").export()
        state_reads = [sql for sql in statements if "crmkit_metadata_state" in sql]
        assert len(state_reads) == 1 and "crmkit_login_session" in state_reads[0]
        assert not held.in_transaction()


def test_a_write_after_the_rights_check_ends_the_lent_read_and_its_state(crm, desk):
    """The state kept after the rights check is given up with the lent read by a write: the next snapshot reads
    on a connection of its own and sees the write."""
    rep = crm.as_user(desk["rep"])
    rep.records("ticket").query()
    with read_connection(crm.engine) as held:
        from crmkit.engine.context import operation_state_columns
        from crmkit.engine.security.authentication import Authenticator

        token = Authenticator(crm).login("rep", PASSWORD).token
        user, state = Authenticator(crm).session_user_reading(token, operation_state_columns(crm.runtime),
                                                              connection=held)
        context = crm.as_user(user.id, lazy=True)
        context.lend_read(held, state)
        assert context.policy is not None
        created = context.records("ticket").create({"name": "written after the rights check"})
        assert not held.in_transaction()
        with counted(crm) as (statements, checkouts):
            with context.snapshot():
                assert context.records("ticket").get(created.id)["name"] == "written after the rights check"
        assert len(checkouts) == 1
        assert len([sql for sql in statements if "crmkit_metadata_state" in sql]) == 1
