"""Demo records whose lookups agree with each other: a deal's contact works at the deal's account.

A record with two lookups where the second's object points to the first's (an
opportunity's `contact` and `account`, and a contact has an `account`) should name records
of one company: the contact's account *is* the opportunity's account. Driven by metadata
only, for any package:

    links = LinkPlan(obj, registry, parents)   # parents: ParentIndex (id -> parent id per lookup field)
    links.reconcile(values, rng)               # after the row's lookups were picked at random
    links.company_of(values)                   # (Company, zh) of the account they lead to, for the row's texts

A *link* is (B, A, f): the record's lookups B (to object Y) and A (to X), and Y's lookup
`f` to X. Lookups are settled most specific first (the ones with the most links: an
activity's opportunity before its contact before its account): a settled B gives each
unsettled A its record's parent (the opportunity's account becomes the activity's
account); a B whose A is settled already is picked among the records of that parent (a
contact of that account), or left empty when it has none (and is not required). Self
lookups (a contact's `reports_to` is another contact) take part like any other: a
manager of the same account.

The row's texts then follow the company its lookups lead to (directly, or through a
contact's account): an opportunity of 北京星辰科技 is named 星辰科技…项目 and its contact's
email is at xingchen-tech.com.cn (RowContext.belong_to), not another company's.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import select

from crmkit.demo.values import Company, object_kind, pools
from crmkit.metadata.model import ObjectDef

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm


class ParentIndex:
    """For one lookup field `f` of object Y: each record's parent (id -> id) and each parent's records.

    Read from the database on first use and again by `refresh` (a self lookup's object gains
    records while it is filled). Records without a parent are left out.
    """

    def __init__(self, crm: "Crm", object_name: str, field: str) -> None:
        self.crm, self.object_name, self.field = crm, object_name, field
        self.parent: dict[int, int] = {}
        self.children: dict[int, list[int]] = {}
        self.refresh()

    def refresh(self) -> None:
        table = self.crm.runtime.table(self.object_name)
        column = table.c[self.field]
        query = select(table.c.id, column).where(column.is_not(None)).order_by(table.c.id)
        self.parent, self.children = {}, {}
        with self.crm.engine.connect() as connection:
            for record_id, parent_id in connection.execute(query):
                self.parent[record_id] = parent_id
                self.children.setdefault(parent_id, []).append(record_id)


class ParentIndexes:
    """ParentIndex per (object, lookup field), shared by a run's objects."""

    def __init__(self, crm: "Crm") -> None:
        self.crm = crm
        self.indexes: dict[tuple[str, str], ParentIndex] = {}
        self.companies: dict[str, CompanyIndex] = {}

    def company(self, name: str, obj: ObjectDef) -> CompanyIndex:
        """The CompanyIndex of a company object (read once per run: its records are made before their children)."""
        index = self.companies.get(name)
        if index is None:
            index = self.companies[name] = CompanyIndex(self.crm, obj)
        return index

    def __getitem__(self, key: tuple[str, str]) -> ParentIndex:
        index = self.indexes.get(key)
        if index is None:
            index = self.indexes[key] = ParentIndex(self.crm, *key)
        return index


class CompanyIndex:
    """The demo pools' Company of each record of a company object (an account), by the record's name.

    Read on first use (id and title); a record whose name is no demo company has none."""

    def __init__(self, crm: "Crm", obj: ObjectDef) -> None:
        by_name = {company.name: (company, bool(zh)) for zh, companies in enumerate(pools().companies)
                   for company in companies}
        table = crm.runtime.table(obj.name)
        self.companies: dict[int, tuple[Company, bool]] = {}
        if obj.title_field is None:
            return
        with crm.engine.connect() as connection:
            for record_id, name in connection.execute(select(table.c.id, table.c[obj.title_field])):
                if name in by_name:
                    self.companies[record_id] = by_name[name]


class LinkPlan:
    """The links between one object's lookups (see the module docstring), and how to make a row agree with them."""

    def __init__(self, obj: ObjectDef, objects: Mapping[str, ObjectDef], indexes: ParentIndexes) -> None:
        lookups = {name: fdef for name, fdef in obj.fields.items() if fdef.is_lookup and fdef.to in objects}
        #: B -> [(A, Y's field f pointing to A's object)]
        self.links: dict[str, list[tuple[str, str]]] = {}
        for b, b_def in lookups.items():
            for f, f_def in objects[b_def.to].fields.items():
                if not f_def.is_lookup:
                    continue
                for a, a_def in lookups.items():
                    if a != b and a_def.to == f_def.to:
                        self.links.setdefault(b, []).append((a, f))
        self.required = {name for name, fdef in lookups.items() if fdef.required}
        self.targets = {name: fdef.to for name, fdef in lookups.items()}
        # Most links first; declared order otherwise (stable sort), so runs repeat for a seed.
        self.order = sorted((name for name in lookups if name in self.links or
                             any(a == name for pairs in self.links.values() for a, _ in pairs)),
                            key=lambda name: -len(self.links.get(name, ())))
        self.indexes = indexes
        # How to reach the company a record is about: a lookup to a company object (an account), or a
        # lookup to a record that has one (a contact's account). Not for company objects themselves.
        self.company_paths: list[tuple[str, str | None, str]] = []
        if object_kind(obj) != "company":
            for name, fdef in lookups.items():
                if object_kind(objects[fdef.to]) == "company":
                    self.company_paths.append((name, None, fdef.to))
            for name, fdef in lookups.items():
                for f, f_def in objects[fdef.to].fields.items():
                    if f_def.is_lookup and f_def.to in objects and object_kind(objects[f_def.to]) == "company" \
                            and object_kind(objects[fdef.to]) != "company":
                        self.company_paths.append((name, f, f_def.to))
        self.objects = objects
        #: Links whose Y is the object itself: their index is read again after each batch.
        self.own = [(obj.name, f) for b, pairs in self.links.items() if self.targets[b] == obj.name for _, f in pairs]

    def __bool__(self) -> bool:
        return bool(self.links or self.company_paths)

    def company_of(self, values: Mapping[str, Any]) -> tuple[Company, bool] | None:
        """The demo company (and whether it is Chinese) of the record the row's lookups lead to first; None if none."""
        for lookup, field, company_object in self.company_paths:
            record_id = values.get(lookup)
            if record_id is not None and field is not None:
                record_id = self.indexes[(self.targets[lookup], field)].parent.get(record_id)
            if record_id is not None:
                found = self.indexes.company(company_object, self.objects[company_object]).companies.get(record_id)
                if found is not None:
                    return found
        return None

    def batch_written(self) -> None:
        """The object gained records: links through its own records (a manager) see them from now on."""
        for key in self.own:
            self.indexes[key].refresh()

    def reconcile(self, values: dict[str, Any], rng: random.Random) -> None:
        """Change the row's lookups in place so that they name records of one family (module docstring)."""
        settled: set[str] = set()
        for b in self.order:
            if b in settled:
                continue
            chosen = values.get(b)
            if chosen is None:
                continue
            pairs = self.links.get(b, ())
            wanted = [(f, values[a]) for a, f in pairs if a in settled and values.get(a) is not None]
            if wanted and not all(self.indexes[(self.targets[b], f)].parent.get(chosen) == parent
                                  for f, parent in wanted):
                chosen = self._pick(b, wanted, rng)
                if chosen is None and b in self.required:
                    chosen = values[b]  # a required lookup keeps its record rather than none
                if chosen is None:
                    values.pop(b, None)
                    continue
                values[b] = chosen
            settled.add(b)
            for a, f in pairs:
                if a in settled:
                    continue
                parent = self.indexes[(self.targets[b], f)].parent.get(chosen)
                if parent is not None:
                    values[a] = parent
                    settled.add(a)

    def _pick(self, b: str, wanted: list[tuple[str, Any]], rng: random.Random) -> int | None:
        """A record of B's object whose parents are all the ones wanted, at random; None when there is none."""
        f, parent = wanted[0]
        candidates = self.indexes[(self.targets[b], f)].children.get(parent, ())
        rest = wanted[1:]
        fitting = [record_id for record_id in candidates
                   if all(self.indexes[(self.targets[b], g)].parent.get(record_id) == value for g, value in rest)]
        return fitting[rng.randrange(len(fitting))] if fitting else None
