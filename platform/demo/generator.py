"""Realistic demo data for any installed package, in English and Chinese.

    generator = DemoGenerator(crm, seed=42)
    created = generator.fill(10_000)          # {"account": 600, "contact": 1800, ...}

Driven only by metadata: objects are filled parents first, each field gets a value that
fits its type, options and limits (and, by its name, looks like what it holds), computed
fields are left to the engine, and a record's lookups name records of one family (a deal's
contact works at the deal's account: demo/links.py). Rows are checked against the object's validation rules
before they are sent, and repaired or dropped, so one odd rule never stops the run. Every
record goes through `records.bulk_create`, the same pipeline users' saves go through.
"""
from __future__ import annotations

import bisect
import random
from array import array
from contextlib import nullcontext
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy import bindparam, func, select, update

from crmkit.demo.links import LinkPlan, ParentIndexes
from crmkit.demo.values import CLOSED_WORDS, Maker, RowContext, ValueMakers, object_kind, pools, sibling_before
from crmkit.engine.automation.rules import rules_held
from crmkit.engine.records.bulk import BulkValidationError
from crmkit.engine.records.errors import RecordError
from crmkit.engine.records.evaluation import record_functions
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.sandbox import EMPTY_RECORD, SandboxError, compile_expression

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm
    from crmkit.engine.context import UserContext

BATCH_SIZE = 1000
#: At least this many records of each object, however small the count asked for.
MINIMUM_PER_OBJECT = 3
#: Objects of these kinds get this share of the records, relative to 1 for an account.
KIND_WEIGHTS = {"activity": 6.0, "person": 3.0, "line": 3.0, "deal": 2.0, "case": 1.5, "quote": 1.0,
                "company": 1.0, "product": 0.4, "campaign": 0.25}
#: Existing ids kept to link to when an object's ids have gaps (more would only cost memory).
MAX_SAMPLED_IDS = 100_000
REPAIR_ATTEMPTS = 12


class DemoError(RecordError):
    """Demo data cannot be created as asked (for example, an object that is not installed)."""

    title = "Demo data not possible"


class DemoGenerator:
    def __init__(self, crm: "Crm", *, seed: int = 42) -> None:
        self.crm = crm
        self.seed = seed
        #: Rows given up on per object (they broke a validation rule no repair could satisfy).
        self.rejected: dict[str, int] = {}
        #: The automation rules (keys such as "lead.welcome") the last `fill` held: those that email or call webhooks.
        self.held_rules: list[str] = []

    def fill(self, count: int, *, objects: Sequence[str] | None = None,
             progress: Callable[[int], None] | None = None, owners: Sequence[int] = (),
             outgoing: bool = False) -> dict[str, int]:
        """Create about `count` records spread over the installed objects (parents first); returns created per object.

        `objects` limits the run to some objects (their lookups then use records already there);
        `progress` is called with the number of records each batch created; `owners` are the
        user ids records are given to in turn (none: no owner). Without `outgoing`, automation
        rules that send email or call webhooks do not fire for the demo records (made-up people
        get no welcome email, and a CRM without SMTP gets no dead letters); the other rules do.
        `held_rules` then names the rules held.
        """
        registry = self.crm.registry
        if count <= 0:
            return {}
        names = list(dict.fromkeys(objects)) if objects else list(registry.objects)
        unknown = [name for name in names if name not in registry.objects]
        if unknown:
            known = ", ".join(sorted(registry.objects)) or "none (install a package first)"
            raise DemoError(f"there is no object {', '.join(map(repr, unknown))}; installed objects: {known}.")
        order = fill_order([registry.object(name) for name in names])
        counts = plan_counts([registry.object(name) for name in order], count)
        session = self.crm.as_system()
        id_pools = IdPools(self.crm)
        parents = ParentIndexes(self.crm)
        today = datetime.now(timezone.utc).date()
        created: dict[str, int] = {}
        with (nullcontext(frozenset()) if outgoing else rules_held(session, outgoing_only=True)) as held:
            self.held_rules = sorted(held)
            for name in order:
                filler = ObjectFiller(session, registry.object(name), id_pools, random.Random(f"{self.seed}:{name}"),
                                      ValueMakers(registry.object(name), today, pools()), owners, parents)
                created[name] = filler.fill(counts[name], progress)
                if filler.rejected:
                    self.rejected[name] = filler.rejected
        return created


def fill_order(objects: Sequence[ObjectDef]) -> list[str]:
    """Object names with the targets of lookups before the objects that point to them (cycles cut)."""
    by_name = {obj.name: obj for obj in objects}
    ordered: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        state[name] = 1
        for fdef in by_name[name].fields.values():
            target = fdef.to if fdef.is_lookup else None
            if target in by_name and target != name and target not in state:
                visit(target)
        state[name] = 2
        ordered.append(name)

    # Required lookups first, so that in a cycle the optional link is the one left empty.
    for obj in sorted(objects, key=lambda o: -sum(f.required for f in o.fields.values() if f.is_lookup)):
        if obj.name not in state:
            visit(obj.name)
    return ordered


def plan_counts(objects: Sequence[ObjectDef], count: int) -> dict[str, int]:
    """How many records of each object: by kind (more activities and contacts than accounts), a few at least."""
    weights = {obj.name: KIND_WEIGHTS.get(object_kind(obj), 1.0) for obj in objects}
    total = sum(weights.values()) or 1.0
    return {name: max(MINIMUM_PER_OBJECT, round(count * weight / total)) for name, weight in weights.items()}


class IdPool:
    """The ids of one object's records that lookups may point to: ranges while dense, sampled otherwise."""

    def __init__(self) -> None:
        self.parts: list[Sequence[int]] = []
        self.ends: list[int] = []
        self.size = 0
        self.last_id = 0

    def add(self, ids: Sequence[int]) -> None:
        if ids:
            self.parts.append(ids)
            self.size += len(ids)
            self.ends.append(self.size)

    def pick(self, rng: random.Random) -> int | None:
        if not self.size:
            return None
        # Skewed towards older records, so some accounts have many contacts and most have a few.
        index = int(self.size * rng.random() ** 1.4)
        part = bisect.bisect_right(self.ends, index)
        start = self.ends[part - 1] if part else 0
        return self.parts[part][index - start]


class IdPools:
    """Id pools per object, loaded on first use and extended with what this run creates."""

    def __init__(self, crm: "Crm") -> None:
        self.crm = crm
        self.pools: dict[str, IdPool] = {}

    def __getitem__(self, name: str) -> IdPool:
        pool = self.pools.get(name)
        if pool is None:
            pool = self.pools[name] = IdPool()
            table = self.crm.runtime.table(name)
            with self.crm.engine.connect() as connection:
                low, high, count = connection.execute(
                    select(func.min(table.c.id), func.max(table.c.id), func.count())).one()
                if count and high - low + 1 == count:
                    pool.add(range(low, high + 1))
                elif count:
                    ids = connection.execute(select(table.c.id).order_by(table.c.id).limit(MAX_SAMPLED_IDS)).scalars()
                    pool.add(array("q", ids))
            pool.last_id = high or 0
        return pool

    def record_created(self, name: str, created: int) -> None:
        """Add the ids a batch of `created` records just got (contiguous unless others wrote meanwhile)."""
        pool = self[name]
        table = self.crm.runtime.table(name)
        with self.crm.engine.connect() as connection:
            high = connection.execute(select(func.max(table.c.id))).scalar() or 0
            if high - pool.last_id == created:
                pool.add(range(pool.last_id + 1, high + 1))
            elif high > pool.last_id:
                pool.add(array("q", connection.execute(
                    select(table.c.id).where(table.c.id > pool.last_id).order_by(table.c.id)).scalars()))
        pool.last_id = high


class FieldPlan:
    __slots__ = ("name", "make", "required", "blank")

    def __init__(self, name: str, make: Maker, required: bool, blank: float) -> None:
        self.name = name
        self.make = make
        self.required = required
        #: Chance of leaving the field empty (or to its default).
        self.blank = blank


class ObjectFiller:
    """Creates one object's demo records in batches."""

    def __init__(self, session: "UserContext", obj: ObjectDef, id_pools: IdPools, rng: random.Random,
                 makers: ValueMakers, owners: Sequence[int] = (), parents: ParentIndexes | None = None) -> None:
        self.session = session
        self.owners = list(owners)
        self.obj = obj
        self.id_pools = id_pools
        self.rng = rng
        #: Creation moments have their own sequence, so the field values stay those of the seed.
        self.dates_rng = random.Random(f"{rng.getstate()[1][:4]}:created")
        self.runtime = session.runtime
        self.pools = pools()
        self.rejected = 0
        self.plans = [plan for plan in (self._plan(fdef, makers) for fdef in _fill_sequence(obj)) if plan]
        self.plans_by_name = {plan.name: plan for plan in self.plans}
        self.rules = self._rules()
        self.evaluator = session.pipeline(obj.name).evaluator
        self.defaulted = [f for f in obj.fields.values() if f.default is not None or f.default_expression]
        self.has_formulas = bool(self.runtime.registry.formula_order.get(obj.name))
        #: Lookups that must name records of one family (a deal's contact at the deal's account): demo/links.py.
        self.links = LinkPlan(obj, self.runtime.registry.objects, parents or ParentIndexes(session.crm))

    # -- planning ------------------------------------------------------------------------------

    def _plan(self, fdef: FieldDef, makers: ValueMakers) -> FieldPlan | None:
        field_type = self.runtime.field_types.types.get(fdef.type)
        if field_type is None or not field_type.writable:
            return None  # computed by the engine, or a type this installation does not know
        if fdef.is_lookup:
            make = self._lookup_maker(fdef)
        else:
            make = makers.maker(fdef)
        if make is None:
            return None
        required = fdef.required and not (fdef.is_lookup and fdef.to == self.obj.name)
        return FieldPlan(fdef.name, make, required, _blank_chance(fdef, self.obj))

    def _lookup_maker(self, fdef: FieldDef) -> Maker:
        pool = self.id_pools[fdef.to]
        return lambda row: pool.pick(row.rng)

    def _rules(self) -> list[tuple[Any, frozenset[str]]]:
        """The create rules, compiled, each with the writable fields it depends on (through formulas too)."""
        reads = self.runtime.registry.formula_reads.get(self.obj.name, {})
        rules = []
        for rule in self.obj.validations:
            if "create" not in rule.on:
                continue
            compiled = compile_expression(rule.condition)
            names, pending = set(), list(compiled.names)
            while pending:
                name = pending.pop()
                if name not in names:
                    names.add(name)
                    pending.extend(reads.get(name, ()))
            rules.append((compiled, frozenset(name for name in names if name in self.plans_by_name)))
        return rules

    # -- filling -------------------------------------------------------------------------------

    def fill(self, count: int, progress: Callable[[int], None] | None) -> int:
        if any(plan.required and self.id_pools[self.obj.fields[plan.name].to].size == 0
               for plan in self.plans if self.obj.fields[plan.name].is_lookup):
            return 0  # a required parent has no records to point to
        records = self.session.records(self.obj.name)
        own_pool = self.id_pools[self.obj.name]
        first_number = own_pool.last_id + 1
        created = 0
        for start, end in self._batches(count, own_pool.size):
            rows = []
            for number in range(first_number + start, first_number + end):
                row = self._valid_row(number)
                if row is None:
                    self.rejected += 1
                    continue
                if self.owners:
                    row["owner_id"] = self.owners[number % len(self.owners)]
                rows.append(row)
            written, kept = self._write(records, rows)
            if written:
                self._backdate(own_pool.last_id, kept)
                self.id_pools.record_created(self.obj.name, written)
                self.links.batch_written()
                created += written
                if progress is not None:
                    progress(written)
        return created

    def _batches(self, count: int, existing: int) -> Iterator[tuple[int, int]]:
        """(start, end) of each batch; with a self-lookup (parent account) and no records yet,
        a small first batch gives the later records parents to point to."""
        start = 0
        if not existing and count > 1 and any(f.is_lookup and f.to == self.obj.name for f in self.obj.fields.values()):
            start = max(1, count // 5)
            yield 0, start
        for begin in range(start, count, BATCH_SIZE):
            yield begin, min(count, begin + BATCH_SIZE)

    def _row(self, number: int) -> RowContext:
        row = RowContext(self.rng, self.pools, number)
        values, rng = row.values, self.rng
        # Lookups first: the texts follow the company they lead to (demo/links.py).
        for lookups in (True, False):
            for plan in self.plans:
                if self.obj.fields[plan.name].is_lookup != lookups:
                    continue
                if not plan.required and rng.random() < plan.blank:
                    continue
                value = plan.make(row)
                if value is not None:
                    values[plan.name] = value
            if lookups and self.links:
                self.links.reconcile(values, rng)
                company = self.links.company_of(values)
                if company is not None:
                    row.belong_to(*company, self.pools)
        return row

    def _valid_row(self, number: int) -> dict[str, Any] | None:
        """A row that passes the validation rules: new rows first (they stay consistent), then repairs."""
        row = self._row(number)
        for attempt in range(REPAIR_ATTEMPTS):
            broken = self._broken_rule_inputs(row.values)
            if broken is None:
                return row.values
            if attempt < REPAIR_ATTEMPTS // 2:
                row = self._row(number)
                continue
            for name in broken:
                plan = self.plans_by_name[name]
                row.values.pop(name, None)
                if plan.required or self.rng.random() < 0.5:
                    value = plan.make(row)
                    if value is not None:
                        row.values[name] = value
            if self.links:
                self.links.reconcile(row.values, self.rng)
        return None

    def _broken_rule_inputs(self, values: Mapping[str, Any]) -> frozenset[str] | None:
        """The fields a failing validation rule reads, or None when every rule passes."""
        if not self.rules:
            return None
        namespace = self._namespace(values)
        functions = dict(self.runtime.functions)
        functions.update(record_functions(None, namespace))
        for compiled, inputs in self.rules:
            try:
                invalid = compiled.evaluate(namespace, functions)
            except SandboxError:
                continue  # the rule needs something only the engine has (related records); it will judge
            if invalid:
                return inputs
        return None

    def _namespace(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The record as the engine's rules will see it: defaults, formulas, and empty related records."""
        namespace = {name: None for name in self.obj.fields}
        namespace["id"] = None  # a new record: rules such as "id is None and ..." judge it as the engine will
        namespace.update(values)
        related = {name: EMPTY_RECORD for name in self.runtime.registry.related_reads.get(self.obj.name, {})}
        evaluator = self.evaluator
        for fdef in self.defaulted:
            if fdef.name not in values:
                try:
                    namespace[fdef.name] = evaluator.default(fdef, namespace, related)
                except SandboxError:
                    pass
        if self.has_formulas:
            evaluator.compute_formulas(namespace, related, None)
        namespace.update(related)
        return namespace

    def _write(self, records: Any, rows: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        """Write the rows; rows the engine still refuses are dropped and the rest written again.

        Returns (how many were written, the rows written in order)."""
        while rows:
            try:
                return records.bulk_create(rows, batch_size=BATCH_SIZE), rows
            except BulkValidationError as error:
                refused = {number - 1 for number in error.row_errors}
                self.rejected += len(refused)
                rows = [row for index, row in enumerate(rows) if index not in refused]
        return 0, []

    def _backdate(self, last_id: int, rows: list[dict[str, Any]]) -> None:
        """Give the records just written (ids after `last_id`, in the rows' order) a creation moment in the past.

        The engine stamps every record "now"; demo records would then be created after the
        deals they closed. Each record's `created_at` (and its "create" history entry) is set
        before its earliest recent date (`creation_moment`). Skipped when others wrote to the
        table meanwhile (the ids would not match the rows)."""
        if not rows:
            return
        table = self.runtime.table(self.obj.name)
        history = self.runtime.system_table("crmkit_history")
        now = datetime.now(timezone.utc)
        with self.session.crm.engine.begin() as connection:
            ids = list(connection.execute(select(table.c.id).where(table.c.id > last_id).order_by(table.c.id)
                                          .limit(len(rows) + 1)).scalars())
            if len(ids) != len(rows):
                return
            moments = [{"demo_record_id": record_id, "demo_created_at": creation_moment(row, self.obj, self.dates_rng, now)}
                       for record_id, row in zip(ids, rows)]
            connection.execute(update(table).where(table.c.id == bindparam("demo_record_id"))
                               .values(created_at=bindparam("demo_created_at")), moments)
            connection.execute(update(history).where(history.c.object == self.obj.name,
                                                     history.c.record_id == bindparam("demo_record_id"),
                                                     history.c.operation == "create")
                               .values(changed_at=bindparam("demo_created_at")), moments)


#: Dates further back than this (a birthday, a founding year) do not date a record's creation.
RECENT_DAYS = 2 * 365


def creation_moment(values: Mapping[str, Any], obj: ObjectDef, rng: random.Random, now: datetime) -> datetime:
    """When a demo record was created: before its earliest date of the last two years, never after `now`.

    A closed record (its stage or status says so: a won or lost deal, a resolved case) was
    created 7 to 180 days (skewed towards a few weeks) before that date, so a sales cycle
    from creation to close is positive and spread; an open one 0 to 120 days before it."""
    earliest = now
    floor = now - timedelta(days=RECENT_DAYS)
    for name, value in values.items():
        fdef = obj.fields.get(name)
        if fdef is None or fdef.type not in ("date", "datetime") or value is None:
            continue
        moment = value if isinstance(value, datetime) else \
            datetime(value.year, value.month, value.day, tzinfo=timezone.utc) if isinstance(value, date) else None
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        if moment is not None and floor <= moment < earliest:
            earliest = moment
    closed = any(isinstance(values.get(name), str) and any(word in values[name].lower() for word in CLOSED_WORDS)
                 for name in ("stage", "status"))
    days = 7 + int(173 * rng.random() ** 2) if closed else int(120 * rng.random() ** 1.5)
    return earliest - timedelta(days=days, hours=rng.randint(1, 10), minutes=rng.choice((0, 15, 30, 45)))


def _fill_sequence(obj: ObjectDef) -> list[FieldDef]:
    """Choices first (dates look at the stage; dependent picklists at their controlling field), then the
    rest, fields that follow a sibling last."""
    def rank(fdef: FieldDef) -> int:
        if fdef.controlling_field:
            return 1
        if fdef.type in ("picklist", "boolean"):
            return 0
        return 3 if sibling_before(fdef.name, obj.fields) else 2

    return sorted(obj.fields.values(), key=rank)


def _blank_chance(fdef: FieldDef, obj: ObjectDef) -> float:
    if fdef.default_expression:
        return 0.0  # an expression such as now() would make the data differ from run to run
    if fdef.default is not None:
        return 0.25  # left to the default
    if fdef.is_lookup:
        if fdef.to == obj.name:
            return 0.85
        return 0.4 if sum(f.is_lookup for f in obj.fields.values()) >= 4 else 0.1
    if "mobile" in fdef.name or fdef.type in ("textarea", "multi_picklist"):
        return 0.35
    return 0.1
