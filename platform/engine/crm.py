"""Crm: the engine's front door. Open a database, install packages, work with records.

    crm = Crm.open("sqlite:///instance/crmkit.db")
    crm.install("apps/default_crm.yaml")
    records = crm.as_system().records("account")
    acme = records.create({"name": "Acme"})
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from contextlib import contextmanager
from pathlib import Path
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import semver
from sqlalchemy import Connection, Engine, inspect, select, update

from crmkit.shipped import shipped_package
from crmkit.engine.database import (
    DEFAULT_BUSY_TIMEOUT,
    DatabaseBusy,
    connect,
    default_database_url,
    is_sqlite,
    no_database,
    write_transaction,
    writer,
)
from crmkit.engine import messages
from crmkit.engine.extensions import Extensions, default_extensions
from crmkit.engine.generation import advance, lock_for_migration, operation_state, read_generation
from crmkit.engine.migrations import Applier, MigrationError, MigrationPlan, plan_migration
from crmkit.engine.migrations.search_steps import outdated_search_indexes
from crmkit.engine.migrations.upgrades import outdated_storage, upgrade_history_index
from crmkit.engine.query.search_index import (Progress, SearchIndex, upgrade_search_merging, upgrade_search_pending,
                                             upgrade_search_words)
from crmkit.engine.records.pipeline import SavePipeline
from crmkit.engine.records.propagation import Propagator
from crmkit.engine.records.autonumber import allocate_numbers
from crmkit.engine.records.clock import utc_now
from crmkit.engine.records.record import Actor
from crmkit.engine.runtime import Runtime
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.rights import follow_savepoints, rights_changed, version_column
from crmkit.engine.context import UserContext
from crmkit.engine.tables import METADATA_STATE, system_metadata
from crmkit.metadata.catalog import Catalog
from crmkit.metadata import load_package, package_from_documents
from crmkit.metadata.errors import MetadataError
from crmkit.metadata.model import Package
from crmkit.metadata.registry import Registry
from crmkit.metadata.source import SourceDocument

if TYPE_CHECKING:
    from crmkit.engine.automation.outbox import Outbox
    from crmkit.engine.automation.queue import AutomationQueue
    from crmkit.engine.security.access import AccessPolicy

#: Users whose compiled rights Crm.as_user keeps (all of them are dropped when more sign in).
KEPT_POLICIES = 10_000

#: The file name of a package's documents read back from the database (they keep no positions).
READ_BACK = "<installed package {name}>"


#: How often opening a database asks to create its missing system tables when a deadlock rolled the step back.
SYSTEM_TABLE_ATTEMPTS = 3


class Crm:
    def __init__(self, engine: Engine, extensions: Extensions, *, create: bool = True) -> None:
        self.engine = engine
        #: The same pool; its transactions take SQLite's write lock up front.
        self.write_engine = writer(engine)
        follow_savepoints(engine)
        self.extensions = extensions
        #: The current moment (aware, UTC). Replace it to fix the time, e.g. in tests.
        self.clock: Callable[[], datetime] = utc_now
        self._ensure_system_tables(create)
        self._sources: dict[str, str] = {}
        #: user id -> (runtime, rights version, AccessPolicy): as_user reuses a user's compiled rights
        #: while neither the metadata nor the rights version moved (security/rights.py).
        self._policies: dict[int, tuple[Runtime, int, "AccessPolicy"]] = {}
        #: Where committed outbox ids go (automation/queue.py `AutomationQueue`); None: they wait for a
        #: worker's periodic requeue. `crmkit worker` and `crmkit serve` set it.
        self.queue: "AutomationQueue | None" = None
        #: How many API tokens this process has revoked (TokenStore.revoke): a cache of tokens found valid
        #: (the API's, crmkit/api/blueprint.py) is emptied when it moves, so a revocation here holds at once.
        self.token_revocations = 0
        with self.engine.connect() as connection:
            self._reload(connection)

    @classmethod
    def open(cls, url: str | None = None, *, extensions: Extensions | None = None, create: bool = True,
             busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> "Crm":
        """Open the database at `url`, or CRMKIT_DATABASE_URL, or instance/crmkit.db.

        A prepared database is opened with reads only (no write lock is taken). A new one is
        prepared (system tables created) unless `create=False`, which raises NoDatabase
        instead. `busy_timeout` is how many seconds a write waits for SQLite's write lock
        before DatabaseBusy. Raises DatabaseError (a CrmkitError) for an unsupported URL or an
        unreachable server.
        """
        engine = connect(url or default_database_url(), create=create, busy_timeout=busy_timeout)
        try:
            return cls(engine, extensions or default_extensions(), create=create)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    # -- metadata ------------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    @property
    def registry(self) -> Registry:
        return self._runtime.registry

    @property
    def generation(self) -> int:
        """The metadata generation this Crm has loaded: counted up by every install or migration (generation.py)."""
        return self._generation

    def installed_packages(self) -> list[dict]:
        """Name, version, source and dates of every installed package."""
        table = self._runtime.system_table("crmkit_package")
        with self.engine.connect() as connection:
            rows = connection.execute(select(table.c.name, table.c.version, table.c.source, table.c.installed_at,
                                             table.c.updated_at).order_by(table.c.name))
            return [dict(row._mapping) for row in rows]

    def plan(self, paths: Sequence[str | os.PathLike] = (), *, purge: Sequence[str] = ()) -> MigrationPlan:
        """What installing `paths` (or re-reading installed packages' sources) would change."""
        with self._migration_connection() as connection:
            self.ensure_current(connection)
            registry, _, notes = self._target(paths)
            plan = self._plan(connection, registry, purge)
        return replace(plan, notes=plan.notes + notes)

    def install(self, *paths: str | os.PathLike, purge: Sequence[str] = (), actor_id: int | None = None,
                progress: Progress | None = None) -> MigrationPlan:
        """Install or upgrade packages from files or folders; the whole migration commits or nothing does.

        `progress(object, done, total)` is told how far long steps (building a search index) have come.

        The migration locks the metadata generation's table from its start (generation.py) and
        counts one more generation when it commits, so other processes and other Crm objects
        on the same database reload the new metadata before their next operation.
        """
        with self._migration_connection() as connection:
            state = self._runtime.system_table(METADATA_STATE)
            if lock_for_migration(connection, state) != self._generation:
                self._reload(connection)  # another process installed since: plan from what is installed now
            registry, sources, notes = self._target(paths)
            runtime = Runtime(self.engine, registry, self.extensions)
            plan = self._plan(connection, registry, purge)
            recompute = Recomputer(runtime)
            Applier(connection, registry, runtime.schema, self.extensions.field_types, recompute, progress).apply(
                plan, list(registry.packages.values()), sources)
            upgrade_history_index(connection, runtime.system_table("crmkit_history"))
            upgrade_search_merging(connection, registry.objects)
            indexes = [index for name in registry.objects
                       if (index := SearchIndex.of(registry, self.extensions.field_types, name)) is not None]
            upgrade_search_pending(connection, indexes)
            upgrade_search_words(connection, indexes)
            if is_sqlite(self.engine):
                _check_foreign_keys(connection)
            rights_changed(connection, runtime)  # permission sets, roles and sharing rules come from metadata
            if not plan.is_empty:
                SecurityLog(self).record("metadata.installed", connection=connection, detail={
                    "by": actor_id, "packages": {p.name: p.version for p in registry.packages.values()},
                    "steps": [step.describe() for step in plan.steps]})
            generation = advance(connection, state)
        with self.engine.connect() as connection:
            self._set_runtime(registry, connection, runtime)  # the tables the migration just built
        self._generation = generation
        return replace(plan, notes=plan.notes + notes)

    def migrate(self, *, purge: Sequence[str] = (), actor_id: int | None = None,
                progress: Progress | None = None) -> MigrationPlan:
        """Re-read every installed package from where it was installed from, and apply the changes."""
        return self.install(purge=purge, actor_id=actor_id, progress=progress)

    # -- records -------------------------------------------------------------------------

    def as_user(self, user_id: int, *, language: str | None = None, timezone: str | None = None,
                lazy: bool = False) -> UserContext:
        """A session acting as an active user: every read and write is limited by their permissions.

        UnknownUser for an unknown or inactive user, or an id that is not an int. The context
        follows the user's rights as they change: see UserContext.refresh_rights. One read
        (the metadata generation and the rights version, as every operation starts); the user's
        compiled rights (AccessPolicy) are read and kept the first time and reused while neither
        moved, since every change of rights advances the version (security/rights.py).

        `lazy=True` (a web request, which has just checked its user's login session): when the
        user's compiled rights are kept, no read now; the context's first operation, snapshot or
        use of `policy` or `runtime` does the operation read, and loads the rights again if they
        moved (UnknownUser then for a user deactivated meanwhile). The actor's language and time
        zone are the kept rights' unless given, so pass the user's current ones. One statement
        (on PostgreSQL a round trip) fewer a request. Without kept rights, as without `lazy`.
        """
        from crmkit.engine.security.access import AccessPolicy, load_user_rights

        if lazy and type(user_id) is int:
            kept = self._policies.get(user_id)
            if kept is not None and kept[0] is self._runtime:
                self._require_current_storage()
                user = kept[2].user
                actor = Actor(user_id=user_id, language=language or user.language,
                              timezone=timezone or user.timezone)
                return UserContext(self, actor, kept[2], rights_version=kept[1], unchecked=True)
        with self.engine.connect() as connection:
            generation, version = operation_state(connection, self._runtime.system_table(METADATA_STATE),
                                                  version_column(self._runtime.system_table("crmkit_counter")))
            self.ensure_current(connection, generation)
            self._require_current_storage()
            runtime = self._runtime
            version = version or 0  # read first: a change after it is seen next time
            kept = self._policies.get(user_id) if type(user_id) is int else None
            if kept is not None and kept[0] is runtime and kept[1] == version:
                policy = kept[2]
            else:
                policy = AccessPolicy(runtime, load_user_rights(connection, runtime, user_id))
                self.keep_policy(user_id, runtime, version, policy)
        user = policy.user
        actor = Actor(user_id=user_id, language=language or user.language, timezone=timezone or user.timezone)
        return UserContext(self, actor, policy, rights_version=version)

    def keep_policy(self, user_id: int, runtime: Runtime, version: int, policy: "AccessPolicy") -> None:
        """Keeps a user's compiled rights for `as_user` while the runtime and the rights version stay (a context
        that loaded them again as an operation started hands them here, so the next request reuses them)."""
        if len(self._policies) >= KEPT_POLICIES:
            self._policies.clear()
        self._policies[user_id] = (runtime, version, policy)

    def as_system(self, *, language: str = "en") -> UserContext:
        """A session for the platform itself (jobs, migrations, demo data): no sharing restrictions."""
        self._require_current_storage()
        return UserContext(self, Actor(system=True, language=language))

    def dispatch_outbox(self, outbox_ids: Sequence[int]) -> None:
        """Hand committed outbox rows to the queue; a queue that fails is logged, never the saver's error."""
        if self.queue is None:
            return
        try:
            self.queue.enqueue(outbox_ids)
        except Exception:  # the rows are safe in the outbox: the periodic requeue hands them on later
            logging.getLogger("crmkit.automation").exception("the queue did not take outbox rows %s", list(outbox_ids))

    @property
    def outbox(self) -> "Outbox":
        """The automation outbox: work, retry, list and replay its rows (automation/outbox.py)."""
        from crmkit.engine.automation.outbox import Outbox

        return Outbox(self)

    def pipeline(self, object_name: str) -> SavePipeline:
        runtime, pipelines = self._runtime, self._pipelines
        if object_name not in pipelines:
            pipelines[object_name] = SavePipeline(runtime, runtime.object(object_name))
        return pipelines[object_name]

    def ensure_current(self, connection: Connection, generation: int | None = None) -> Runtime:
        """The runtime for an operation starting on `connection`, reloaded first if another process upgraded.

        One read of one row by primary key (generation.py); on PostgreSQL the read's table lock
        lasts until `connection`'s transaction ends, so no migration runs in the middle of the
        operation. A caller that has read the generation on `connection` already (a
        UserContext reads it with the rights version: generation.operation_state) passes
        it as `generation`. Raises MigrationError if the installed metadata no longer validates.
        """
        if generation is None:
            generation = read_generation(connection, self._runtime.system_table(METADATA_STATE))
        if generation != self._generation:
            self._reload(connection)
        return self._runtime

    # -- internals -----------------------------------------------------------------------

    def _reload(self, connection: Connection) -> None:
        """Load the installed metadata and its generation through `connection`."""
        generation = self._read_generation(connection)
        self._set_runtime(self._installed_registry(connection), connection)
        self._generation = generation

    @staticmethod
    def _read_generation(connection: Connection) -> int:
        metadata = system_metadata()
        return read_generation(connection, metadata.tables[METADATA_STATE])

    def _set_runtime(self, registry: Registry, connection: Connection, runtime: Runtime | None = None) -> None:
        """Serve `registry` from now on; `runtime`: one already built for it (an install's), else one is built."""
        runtime = runtime or Runtime(self.engine, registry, self.extensions)
        # One inspector for both checks: the table list is read once. It is made here, on this
        # connection and after the caller read the generation, so it never outlives DDL or sees an
        # older state than the metadata it checks.
        inspector = inspect(connection)
        self._outdated = outdated_storage(connection, runtime.schema.tables.values(), inspector) + \
            outdated_search_indexes(connection, registry, self.extensions.field_types, inspector)
        self._pipelines: dict[str, SavePipeline] = {}
        self._runtime = runtime

    def _require_current_storage(self) -> None:
        """Records are not read or written while tables are still as an older crmkit left them."""
        if self._outdated:
            raise MigrationError(
                f"this database was written by an older crmkit: {'; '.join(self._outdated)}. "
                "Run `crmkit migrate` to bring it up to date before using records.")

    def _ensure_system_tables(self, create: bool) -> None:
        """Create missing system tables; a prepared database is only read, so opening never waits for a writer."""
        metadata = system_metadata()
        with self.engine.connect() as connection:
            existing = set(inspect(connection).get_table_names())
        missing = [table for name, table in metadata.tables.items() if name not in existing]
        if not missing:
            return
        if not create and "crmkit_package" not in existing:
            raise no_database(self.engine.url.render_as_string(hide_password=False))
        for attempt in range(SYSTEM_TABLE_ATTEMPTS):
            try:
                with write_transaction(self.engine) as connection:
                    # Listed again inside the write transaction (another process may have created some
                    # meanwhile), once, instead of create_all's check of every table one by one.
                    existing = set(inspect(connection).get_table_names())
                    missing = [table for name, table in metadata.tables.items() if name not in existing]
                    metadata.create_all(connection, tables=missing, checkfirst=False)
                    if any(table.name == METADATA_STATE for table in missing):
                        lock_for_migration(connection, metadata.tables[METADATA_STATE])  # creates the row
                return
            except DatabaseBusy:
                # PostgreSQL: DDL of another process on the same database (its catalog rows) may deadlock with
                # this one, which is then rolled back whole: the step only creates what is missing, so it is
                # asked again (seen with two test processes creating tables in schemas of one database).
                if attempt == SYSTEM_TABLE_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _installed_packages(self, connection: Connection) -> tuple[list[Package], Catalog]:
        """The installed packages read back from the database, and the catalog they are checked with: rules added
        after they were installed are not applied to them (metadata/catalog.py `installed`), so an upgrade of
        crmkit never makes a database unopenable."""
        metadata = system_metadata()
        table = metadata.tables["crmkit_package"]
        rows = connection.execute(select(table.c.name, table.c.documents, table.c.source)).all()
        catalog = replace(self.extensions.catalog, installed=frozenset(name for name, _, _ in rows))
        packages = []
        for name, documents, source in rows:
            if source:
                self._sources[name] = source
            stored = [SourceDocument(READ_BACK.format(name=name), data, {}, {}) for data in documents]
            packages.append(package_from_documents(stored, catalog))
        return packages, catalog

    def _installed_registry(self, connection: Connection) -> Registry:
        try:
            return Registry.build(*self._installed_packages(connection))
        except MetadataError as error:
            raise MigrationError(messages.PLUGINS_CHANGED(problems=f"\n{error}")) from None

    def _target(self, paths: Sequence[str | os.PathLike]) -> tuple[Registry, dict[str, str], tuple[str, ...]]:
        """The registry after installing `paths`, their sources, and notes on sources that are gone.

        Without paths, every installed package is re-read from its source. A path that is no
        file or folder but the name of a package shipped with crmkit (`default_crm`) means that
        package; so does an installed source that has moved, when a shipped package has its name.
        """
        notes: list[str] = []
        if paths:
            paths = [_package_path(path) for path in paths]
        else:
            paths = []
            for name, source in self._sources.items():
                found = _package_path(source) if Path(source).exists() else shipped_package(Path(source).stem)
                if found is None:
                    notes.append(f"the source of package {name} ({source}) no longer exists, so its installed "
                                 "version is kept; install it again from where it is now to upgrade it")
                else:
                    paths.append(found)
        packages: list[Package] = []
        documents: list[SourceDocument] = []
        sources: dict[str, str] = {}
        problems = []
        for path in paths:
            try:
                package, docs = load_package(path, self.extensions.catalog)
            except MetadataError as error:
                problems.extend(error.problems)
                continue
            packages.append(package)
            documents.extend(docs)
            sources[package.name] = str(Path(path).resolve())
            installed = self.registry.packages.get(package.name)
            if installed is not None and _older(package.version, installed.version):
                notes.append(f"package {package.name} goes back from version {installed.version} to the older "
                             f"{package.version}; the steps listed are what that changes")
        if problems:
            raise MetadataError(problems)
        try:
            registry = self.registry.with_packages(packages, documents)
        except MetadataError as error:
            raise self._positioned(error, packages, documents) from None
        return registry, sources, tuple(notes)

    def _positioned(self, error: MetadataError, packages: list[Package],
                    documents: list[SourceDocument]) -> MetadataError:
        """`error` with `file:line:column` in the source files of installed packages, where its problems lie in
        packages read back from the database (stored without positions: READ_BACK) whose source file still holds
        the very package installed; else `error` as it is."""
        named = {problem.file for problem in error.problems}
        reloaded, found = [], []
        for name, installed in self.registry.packages.items():
            source = self._sources.get(name)
            if READ_BACK.format(name=name) not in named or not source or not Path(source).exists():
                continue
            try:
                package, docs = load_package(source, self.registry.catalog)
            except MetadataError:
                continue
            if package.documents == installed.documents:  # changed since: its lines would point at other text
                reloaded.append(package)
                found.extend(docs)
        if not reloaded:
            return error
        try:
            self.registry.with_packages([*packages, *reloaded], [*documents, *found],
                                        read_back=[package.name for package in reloaded])
        except MetadataError as positioned:
            return positioned
        return error

    def _plan(self, connection: Connection, registry: Registry, purge: Sequence[str]) -> MigrationPlan:
        retired_table = self._runtime.system_table("crmkit_retired")
        retired = {(row.object, row.field): row.note for row in connection.execute(select(retired_table))}
        return plan_migration(connection, self.registry, registry, self.extensions.field_types, retired, purge)

    @contextmanager
    def _migration_connection(self) -> Iterator[Connection]:
        """One transaction for the whole migration; on SQLite with foreign keys off while tables are rebuilt."""
        with self.engine.connect() as connection:
            sqlite = is_sqlite(self.engine)
            # PRAGMA foreign_keys only works outside a transaction: send it past SQLAlchemy's autobegin.
            raw = connection.connection.driver_connection
            if sqlite:
                raw.execute("PRAGMA foreign_keys = OFF")
            try:
                connection = connection.execution_options(crmkit_write=True)
                with connection.begin():
                    yield connection
            finally:
                if sqlite:
                    raw.execute("PRAGMA foreign_keys = ON")


class Recomputer:
    """Fills computed fields of existing records after a migration added or changed them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def __call__(self, connection: Connection, object_name: str, fields: tuple[str, ...]) -> None:
        obj = self.runtime.object(object_name)
        propagator = Propagator(connection, self.runtime)
        for name in fields:
            fdef = obj.fields[name]
            if fdef.type == "rollup":
                propagator.recompute_rollup(object_name, name, None)
            elif fdef.type == "autonumber":
                table = self.runtime.table(object_name)
                ids = list(connection.execute(select(table.c.id).where(table.c[name].is_(None)).order_by(table.c.id)).scalars())
                for record_id, text in zip(ids, allocate_numbers(connection, self.runtime, object_name, fdef, len(ids))):
                    connection.execute(update(table).where(table.c.id == record_id).values({name: text}))
        if any(obj.fields[name].type in ("formula", "rollup") for name in fields):
            propagator.recompute_formulas(object_name, None)


def _check_foreign_keys(connection: Connection) -> None:
    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        table, rowid, parent, _ = problems[0]
        raise MigrationError(f"the migration would leave {table} row {rowid} pointing to a missing {parent} record; "
                             "nothing was changed.")


def _older(version: str, than: str) -> bool:
    """Whether `version` comes before `than` by Semantic Versioning 2.0.0's precedence (section 11: 1.0.0-rc.1 <
    1.0.0); False when either is no semantic version (the package schema asks for one)."""
    try:
        return semver.Version.parse(version) < semver.Version.parse(than)
    except ValueError:
        return False


def _package_path(path: str | os.PathLike) -> str | os.PathLike:
    """`path` itself, or the shipped package of that name when no such file or folder exists."""
    if Path(path).exists():
        return path
    return shipped_package(str(path)) or path
