"""A UserContext: one actor working with records, in one transaction at a time.

    with crm.as_user(7).transaction() as context:
        account = context.records("account").create({"name": "Acme"})
        context.records("contact").create({"last_name": "Li", "account": account.id})

Names kept apart on purpose: a `UserContext` is the engine's view of one acting user
(`crm.as_user(id)`, or `crm.as_system()` for the platform itself); a `LoginSession` is a
signed-in browser (`crmkit_login_session`); Flask's `session` is the signed cookie.

Calls outside `transaction()` each run in a transaction of their own.

A context follows its user's rights and the installed metadata as they change: every
top-level operation (each records operation, each `transaction()`) starts with ONE read on
its own connection, the metadata generation and the rights version in one statement
(generation.operation_state, security/rights.py). If another process upgraded the
metadata, it is reloaded (Crm.ensure_current); if a user, role, grant, team membership,
share or metadata install changed the rights version, the user's rights are loaded again
on that connection before the operation checks its permission; a user deactivated
meanwhile gets UnknownUser. `recycle_bin`, `privacy` and `sharing` do the same read when
they are taken. Inside a transaction the rights stay as they were when it started.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy import ColumnElement, Connection, ScalarSelect, Table

from crmkit.engine.database import ConnectionLost, read_connection, reads_one_moment, write_transaction
from crmkit.engine.generation import generation_column, operation_state
from crmkit.engine.prepared import end_read
from crmkit.engine.records.clock import clock_functions, local_today
from crmkit.engine.records.record import Actor
from crmkit.engine.records.service import RecordService
from crmkit.engine.runtime import Runtime
from crmkit.engine.security.rights import (
    forget_own_changes, hold_rights_version, own_changes, rights_version, version_column,
)
from crmkit.engine.tables import METADATA_STATE

if TYPE_CHECKING:
    from crmkit.engine.automation.rules import AutomationOrigin
    from crmkit.engine.crm import Crm
    from crmkit.engine.records.errors import RecordError
    from crmkit.engine.security.access import AccessPolicy
    from crmkit.engine.security.privacy import Privacy
    from crmkit.engine.security.sharing import Sharing
    from crmkit.engine.records.pipeline import SavePipeline
    from crmkit.engine.records.recycle import RecycleBin
    from crmkit.engine.reports.service import ReportService
    from crmkit.engine.records.global_search import ObjectHits, SearchHit
    from crmkit.engine.reports.dashboards import DashboardService

RowFilter = Callable[[str], "ColumnElement[bool] | None"]


class UserContext:
    def __init__(self, crm: "Crm", actor: Actor, policy: "AccessPolicy | None" = None, *,
                 rights_version: int = 0, unchecked: bool = False) -> None:
        self.crm = crm
        self.actor = actor
        self._policy = policy
        self._rights_version = rights_version
        #: Made from kept rights without reading (Crm.as_user(lazy=True)): the first use of `policy` or `runtime`,
        #: or the first operation, does the operation read (and loads the rights again if they moved).
        self._unchecked = unchecked and policy is not None
        self._connection: Connection | None = None
        #: The RightsChanged (or UnknownUser: deactivated meanwhile) an operation of the open transaction raised: the
        #: transaction rolls back when it ends even if the caller caught the error and carried on (`writing`); None
        #: while its rights hold.
        self._rights_lost: "RecordError | None" = None
        #: The open transaction's own advances of the rights version its rights were read after (`_rights_still_held`).
        self._own_seen = 0
        #: What waits for the open transaction to end, committed or not (`after_transaction`).
        self._after_transaction: list[Callable[[], None]] = []
        #: The connection of a `snapshot()` block, which reads share; None outside one.
        self._snapshot: Connection | None = None
        #: A connection the caller holds, lent for the first snapshot (`lend_read`); None once used or given back.
        self._lent: Connection | None = None
        #: The operation state (generation, rights version) read with the lent read; () when not read with it.
        self._lent_state: tuple[Any, ...] = ()
        #: The lent state, while the snapshot taking the lent connection starts its operation on it.
        self._starting_state: tuple[Any, ...] = ()
        self._runtime = crm.runtime
        #: The outbox row whose action this context's saves do (the worker's), else None (automation/rules.py).
        self.automation: "AutomationOrigin | None" = None
        #: Outbox rows written by the open transaction, handed to the queue once it commits.
        self.outbox_ids: list[int] = []
        #: Run log entries of before-save rules of records being created, waiting for their ids (automation/runlog.py).
        self.pending_runs: list[tuple[str, list[dict[str, Any]]]] = []
        #: Run log entries of rules that refused a save: written once the save's transaction has ended.
        self.failed_runs: list[dict[str, Any]] = []

    @property
    def policy(self) -> "AccessPolicy | None":
        """What the user may do; None only for the platform's own system session."""
        if self._unchecked:
            self.refresh_rights()
        return self._policy

    @policy.setter
    def policy(self, policy: "AccessPolicy | None") -> None:
        self._policy = policy

    def refresh_rights(self) -> None:
        """Load the user's rights again if they changed since they were loaded (see the module docstring).

        The operation-start read on a connection of its own; nothing for the system context,
        nor inside a transaction (which keeps the rights it started with). Raises UnknownUser
        if the user was deactivated. Records operations need not call it: they do the same
        read on their own connection as they start (`reading`, `writing`).
        """
        if self._policy is None or self._connection is not None or self._snapshot is not None:
            return
        if self._lent is not None and self._lent_state:  # read with the lent read (lend_read): no statement, and
            # the lent read and its state stay for the next read, whose operation read is then that same statement
            # in the same transaction (a detail page asks for the rights before its snapshot: one statement fewer).
            # A write first ends both unused (`writing` -> `return_lent`).
            self._starting_state = self._lent_state
            try:
                self._start_operation(self._lent)
            finally:
                self._starting_state = ()
            return
        with self.reading():
            pass

    @property
    def row_filter(self) -> RowFilter | None:
        """The security layer's restriction per object; None means this session sees every record."""
        return self.policy.row_filter if self.policy is not None else None

    @property
    def privacy(self) -> "Privacy":
        """Privacy requests: export or erase a person's data (needs manage_privacy)."""
        from crmkit.engine.security.privacy import Privacy

        self.refresh_rights()
        return Privacy(self)

    @property
    def sharing(self) -> "Sharing":
        from crmkit.engine.security.sharing import Sharing

        self.refresh_rights()
        return Sharing(self)

    @property
    def dashboards(self) -> "DashboardService":
        """The dashboards this user may see and their widgets' results (reports/dashboards.py)."""
        from crmkit.engine.reports.dashboards import DashboardService

        self.refresh_rights()
        return DashboardService(self)

    @property
    def rights_version(self) -> int:
        """The rights version the user's rights were loaded at (security/rights.py); 0 for the system context.

        A lazily made context (`Crm.as_user(lazy=True)`) checks its rights first, as `policy` does.
        """
        if self._unchecked:
            self.refresh_rights()
        return self._rights_version

    @property
    def runtime(self) -> Runtime:
        if self._unchecked:
            self.refresh_rights()
        return self._runtime

    def now(self) -> datetime:
        """The current moment (aware, UTC) from `Crm.clock`: every write's timestamp."""
        return self.crm.clock()

    def today(self) -> date:
        """The acting user's calendar date now, in their time zone."""
        return local_today(self.now(), self.actor.timezone)

    def clock_functions(self, moment: datetime) -> dict[str, Any]:
        """`today()` and `now()` for expressions evaluated at `moment` on this user's behalf, and `user`.

        `user` is the acting user as a record (automation/acting_user.py), read only if an expression reads it.
        """
        from crmkit.engine.automation.acting_user import USER_NAME, acting_user

        return {**clock_functions(moment, self.actor.timezone), USER_NAME: acting_user(self)}

    def records(self, object_name: str) -> RecordService:
        return RecordService(self, object_name)

    @property
    def reports(self) -> "ReportService":
        """Reports this user may run, with drill-down and exports (reports/service.py)."""
        from crmkit.engine.reports.service import ReportService

        return ReportService(self)

    def search(self, text: str, *, objects: "Sequence[str] | None" = None, limit: int = 20) -> list["SearchHit"]:
        """Records of any object matching `text`, best first, as the user may see them (records/global_search.py)."""
        from crmkit.engine.records.global_search import search_objects

        return search_objects(self, text, objects, limit)

    def search_by_object(self, text: str, *, objects: "Sequence[str] | None" = None, per_object: int = 10,
                         count_cap: int = 1000) -> list["ObjectHits"]:
        """The best hits of each object matching `text`, with each object's count (records/global_search.py)."""
        from crmkit.engine.records.global_search import search_by_object

        return search_by_object(self, text, objects, per_object=per_object, count_cap=count_cap)

    def user_names(self, user_ids: "Iterable[object]") -> dict[int, str]:
        """{user id: display name} of the users a page names (security/user_names.py: UserNames, the one reader)."""
        from crmkit.engine.security.user_names import UserNames

        return {user_id: user.display_name for user_id, user in UserNames(self).names(user_ids).items()}

    @property
    def recycle_bin(self) -> "RecycleBin":
        from crmkit.engine.records.recycle import RecycleBin

        self.refresh_rights()
        return RecycleBin(self)

    def pipeline(self, object_name: str) -> "SavePipeline":
        return self.crm.pipeline(object_name)

    @contextmanager
    def transaction(self) -> Iterator["UserContext"]:
        """Group several operations into one transaction: all are saved, or none.

        The user's rights are checked (and reloaded if they changed) as it starts, and hold for all of it. On
        PostgreSQL a write transaction is READ COMMITTED (each statement sees what was committed before it), so
        another process may change the rights while it runs: each operation inside it asks the rights version
        again after it read or wrote (one primary-key read; `_rights_still_held`). Changes this transaction made
        itself (sharing a record) count as its own; a change by another process that leaves this user's rights as
        they were (another user's role) is taken in; any other raises RightsChanged, so nothing read with the
        rights of before reaches the caller and the transaction is rolled back: also when the caller catches it
        and carries on (every later operation raises it again, and so does the end of the block), and a bulk
        change or an import inside stops at it rather than counting it as one record's failure. A user deactivated
        meanwhile ends it the same way, with UnknownUser. A savepoint rolled back takes its own changes back out of
        the count (security/rights.py `follow_savepoints`). Every write operation outside a transaction asks once,
        before it commits. SQLite needs none of it: the transaction holds the write lock from its start, so no
        change commits while it runs.
        """
        with self.writing():
            yield self

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """The connection of a write: the open transaction's, or a new transaction started with the operation read."""
        if self._connection is not None:
            connection = self._connection
            # Before too: another process's change is settled before this write may change rights itself, which
            # the check after it then tells apart (its own advance of the version, its own rights read again).
            self._rights_still_held(connection)
            yield connection
            self._rights_still_held(connection)
            return
        self.return_lent()
        self.outbox_ids = []
        self.pending_runs, self.failed_runs = [], []
        try:
            with ExitStack() as stack:
                connection = self._started(stack, lambda: write_transaction(self.crm.write_engine))
                forget_own_changes(connection)
                self._connection, self._rights_lost, self._own_seen = connection, None, 0
                try:
                    yield connection
                    if self._rights_lost is not None:  # caught inside and carried on: still none of it is saved
                        raise self._rights_lost
                    self._rights_still_held(connection)  # what it wrote and read was read with rights still held
                finally:
                    self._connection, self._rights_lost = None, None
        finally:
            failed, self.failed_runs, self.pending_runs = self.failed_runs, [], []
            if failed:  # the save rolled back; why its rule refused it is kept in a transaction of its own
                from crmkit.engine.automation.runlog import write_failed

                write_failed(self.crm, failed)
            waiting, self._after_transaction = self._after_transaction, []
            for action in waiting:
                action()
        written, self.outbox_ids = self.outbox_ids, []
        if written:  # committed: the queue may take them now (rows it misses are requeued, automation/outbox.py)
            self.crm.dispatch_outbox(written)

    def hold_rights(self) -> None:
        """Inside a write operation (`writing`, `transaction`): no other process changes anyone's rights until it
        ends, and this user's rights are those of now, for checks that must still hold when the write after them
        commits ("grant only what you hold", "the last administrator keeps admin": security/administration.py).

        Locks the rights version (security/rights.py `hold_rights_version`; on SQLite the transaction's write lock
        holds it from its start), then, as every operation inside a transaction: RightsChanged if another process
        changed this user's access since the transaction began, UnknownUser if it deactivated them (either one
        rolls the transaction back). RuntimeError outside a write operation.
        """
        if self._connection is None:
            raise RuntimeError("hold_rights() needs an open write operation (writing() or transaction())")
        hold_rights_version(self._connection, self._runtime)
        self._rights_still_held(self._connection)

    def rights_still_held(self, connection: Connection) -> None:
        """For an operation that hands out its results over time on `connection` (an export's batches): raises
        RightsChanged (or UnknownUser) when this user's rights changed since the transaction began, as each
        operation inside a transaction does when it ends; nothing outside transactions, on a connection whose
        statements all see one moment, or for the system context."""
        self._rights_still_held(connection)

    @property
    def in_transaction(self) -> bool:
        """Whether a `transaction()` (or a write operation) of this context is open."""
        return self._connection is not None

    def after_transaction(self, action: Callable[[], None]) -> None:
        """Run `action` once the open transaction has ended, committed or rolled back (at once when none is open):
        for what must be written whatever becomes of it, in a transaction of its own (an export's security-log
        entry), which on SQLite would wait for the write lock the open transaction holds."""
        if self._connection is None:
            action()
        else:
            self._after_transaction.append(action)

    def lend_read(self, connection: Connection, state: tuple[Any, ...] = ()) -> None:
        """Lend the context an open connection of `crm.engine` on which the caller began a read (a web request's
        sign-in check): if the context's first operation is a read (a `snapshot()`, a read outside one, the rights
        check of `policy`), it does its operation read on that connection and continues its transaction, instead
        of checking out a connection and beginning another (on SQLite a BEGIN and a ROLLBACK fewer, on PostgreSQL
        the round trips of both). Its reads then see the database as the caller's read did, which is the moment it
        starts in any case unless something was written between them: lend only when nothing is (a page that only
        reads until then, such as a GET). A write first, or `return_lent()`, ends the lent read unused; after the
        first read the context reads on connections of its own.

        `state`: the values of `operation_state_columns(crm.runtime)` the caller read in that read (with its
        sign-in check, in the same statement): the snapshot then starts from them instead of reading them again,
        as if its operation read had been that statement. () reads them as usual.

        The caller keeps the connection and closes it (after the snapshot, or at the end of its request); the
        context never closes it, and leaves no transaction open on it.

        The connection must read one moment (`database.read_connection`): on PostgreSQL a READ COMMITTED one would
        give the snapshot the rights of the caller's statement and data committed after it. Such a connection is
        not lent: its read is ended at once and the context reads on a connection of its own, as if none was lent.
        """
        if not reads_one_moment(connection):
            _end_transaction(connection)
            return
        self._lent = connection
        self._lent_state = tuple(state) if len(state) == 2 else ()

    def return_lent(self) -> None:
        """End the lent connection's read and forget it (`lend_read`); nothing when none is lent."""
        lent, self._lent, self._lent_state = self._lent, None, ()
        if lent is not None:
            _end_transaction(lent)

    @contextmanager
    def snapshot(self) -> Iterator["UserContext"]:
        """Group several reads (a page's) on one connection: one operation read for all of them.

        The reads inside share the connection, the metadata and the rights of its start, as
        a transaction's do: a page of six engine calls pays one connection checkout and one
        operation read instead of six (on PostgreSQL, round trips). A write inside runs in a
        transaction of its own, as outside, and the block's later reads need not see it: use
        it for pages that only read. Nested in a transaction or another snapshot, it adds nothing.
        """
        if self._connection is not None or self._snapshot is not None:
            yield self
            return
        with ExitStack() as stack:
            self._snapshot = self._started(stack, self._lent_or_new)
            try:
                yield self
                end_read(self._snapshot)
            finally:
                self._snapshot = None

    @contextmanager
    def _lent_or_new(self) -> Iterator[Connection]:
        """The lent connection, its transaction ended when the block ends (left open to its holder); else a new one."""
        lent, self._lent = self._lent, None
        state, self._lent_state = self._lent_state, ()
        if lent is None or lent.closed or lent.invalidated:
            with read_connection(self.crm.engine) as connection:
                yield connection
            return
        self._starting_state = state  # _start_operation takes it, as the opening statement's
        try:
            yield lent
        finally:
            self._starting_state = ()
            _end_transaction(lent)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """The connection of a read: the open transaction's or snapshot's, or a new one started with the operation read."""
        if self._connection is not None:
            connection = self._connection
            yield connection
            self._rights_still_held(connection)
            return
        if self._snapshot is not None:
            yield self._snapshot
            return
        with ExitStack() as stack:
            connection = self._started(stack, self._lent_or_new)
            yield connection
            end_read(connection)  # committed, not rolled back: psycopg keeps its prepared statements (prepared.py)

    def _started(self, stack: ExitStack, opened: Callable[[], AbstractContextManager[Connection]]) -> Connection:
        """A connection from `opened()` on which the operation read was done, closed with `stack`.

        A pooled connection the server dropped (a restart, a failover, an idle timeout) fails
        on that first statement (ConnectionLost), before the operation has done anything:
        SQLAlchemy discards it (and the pool's other connections as old as it), and the
        operation starts once more on a new one. This replaces a ping before every checkout
        (`pool_pre_ping`), which cost a round trip per operation (database.py).
        """
        retried = False
        while True:
            try:
                with ExitStack() as opening:
                    connection = opening.enter_context(opened())
                    self._start_operation(connection)
                    stack.push(opening.pop_all())
                    return connection
            except ConnectionLost:
                if retried:
                    raise
                retried = True

    def _start_operation(self, connection: Connection) -> None:
        """Before each operation, one statement on its connection: the metadata generation and the rights version.

        The metadata as installed now if another process upgraded it (Crm.ensure_current);
        the user's rights loaded again, on the same connection, if the rights version moved or
        the metadata changed (permission sets and roles are metadata). UnknownUser for a user
        deactivated meanwhile.
        """
        tables = self.crm.runtime
        self._unchecked = False  # this read is the check a lazily made context waits for
        if self._policy is None:
            generation, = operation_state(connection, tables.system_table(METADATA_STATE))
            self._runtime = self.crm.ensure_current(connection, generation)
            return
        from crmkit.engine.security.access import AccessPolicy, load_user_rights

        state, self._starting_state = self._starting_state, ()
        if state:  # read by the lent read's statement, on this connection, in this transaction (lend_read)
            generation, version = state
            generation = generation or 0
        else:
            generation, version = operation_state(connection, tables.system_table(METADATA_STATE),
                                                  version_column(tables.system_table("crmkit_counter")))
        version = version or 0
        runtime = self.crm.ensure_current(connection, generation)
        if runtime is self._runtime and version == self._rights_version:
            return
        user = load_user_rights(connection, runtime, self._policy.user.user_id)
        self.policy, self._runtime, self._rights_version = AccessPolicy(runtime, user), runtime, version
        self.crm.keep_policy(user.user_id, runtime, version, self._policy)


    def _rights_still_held(self, connection: Connection) -> None:
        """After an operation inside a transaction: RightsChanged if the user's rights changed since it started,
        by another process, so that what the operation read with the rights of before is not handed out
        (`transaction`). Nothing for the system context or a connection whose statements all see one moment."""
        if self._policy is None or reads_one_moment(connection):
            return
        version = rights_version(connection, self._runtime)
        own = own_changes(connection)
        if version == self._rights_version + own and own == self._own_seen:
            return
        from crmkit.engine import messages
        from crmkit.engine.security.access import AccessPolicy, RightsChanged, UnknownUser, load_user_rights, same_access

        if self._rights_lost is not None:
            raise self._rights_lost
        try:
            user = load_user_rights(connection, self._runtime, self._policy.user.user_id)
        except UnknownUser as error:  # deactivated meanwhile: refused as such, and the transaction saves nothing
            self._rights_lost = error
            raise
        if version != self._rights_version + own and not same_access(user, self._policy.user):
            self._rights_lost = RightsChanged(messages.RIGHTS_CHANGED())
            raise self._rights_lost
        # The transaction's own changes (they are its rights from here on: this user joining a team), or others'
        # that leave what this user may do as it was (another user's role, this user's time zone, a record shared
        # with them): the policy is compiled again, so its share presence is read again too.
        self.policy, self._rights_version, self._own_seen = AccessPolicy(self._runtime, user), version - own, own


def operation_state_columns(runtime: Runtime) -> tuple[ScalarSelect, ScalarSelect]:
    """The metadata generation and the rights version as scalar subqueries, to read with another statement (a
    web request's sign-in check) and hand to `UserContext.lend_read` as its `state`; the same objects per runtime."""
    return _state_columns(runtime.system_table(METADATA_STATE), runtime.system_table("crmkit_counter"))


@lru_cache(maxsize=16)
def _state_columns(state: Table, counters: Table) -> tuple[ScalarSelect, ScalarSelect]:
    return generation_column(state), version_column(counters)


def _end_transaction(connection: Connection) -> None:
    """End a read's transaction on a connection left open (PostgreSQL: COMMIT, keeping prepared statements);
    nothing on one closed or lost (its holder closes it)."""
    if connection.closed or connection.invalidated:
        return
    end_read(connection)
    if connection.in_transaction():
        connection.rollback()
