"""The read lines: list pages, keyset page, count, search, startswith, autocomplete, security, export.

Every line measures crmkit's public API (`records.query`, `count`, `suggest`, `export`) and
the best hand-written SQLAlchemy Core query for the same rows on the same table; the page
lines also measure Django's ORM as a Python team would write them (model instances).
Where both sides return rows, the bench checks they are the same rows and says so if not.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sqlalchemy import Table, and_, func, or_, select
from sqlalchemy import text as text_clause

from benchmarks import data
from benchmarks.report import (INDEXED_PAGE, NO_TARGET, SEARCH, STARTSWITH, Result, Target, elapsed, median_time,
                               paired_medians, timed)
from crmkit.engine import Crm
from crmkit.engine.query import page_cursor

PAGE = 50
EXPORT_ROWS = 100_000
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Bench:
    """What the read lines share: the Crm, the account table, and Django's QuerySet over it."""

    crm: Crm
    table: Table
    django: Any
    #: Seconds each measurement may repeat its call for (report.median_time).
    budget: float = 1.0

    def median(self, function: Callable[[], object], first: float | None = None) -> float:
        return median_time(function, budget=self.budget, first=first)

    def paired(self, ours: Callable[[], object], raw: Callable[[], object],
               firsts: tuple[float, float] | None = None) -> tuple[float, float]:
        """Medians of both sides measured in turn (report.py `paired_medians`): ratios that hold under load."""
        return paired_medians(ours, raw, budget=self.budget, firsts=firsts)

    @property
    def records(self):
        return self.crm.as_system().records("account")

    def raw(self, query) -> list:
        with self.crm.engine.connect() as connection:
            return connection.execute(query).all()

    @property
    def postgres(self) -> bool:
        return self.crm.engine.dialect.name == "postgresql"

    def name_order(self, query):
        """ORDER BY name, id as the index on name serves it: on PostgreSQL the engine builds it
        NULLS FIRST (its rule: empty is the smallest value), so a hand-written query says so too."""
        name = self.table.c.name.asc().nulls_first() if self.postgres else self.table.c.name
        return query.order_by(name, self.table.c.id)

    def django_name_order(self, queryset):
        """The same order in Django's ORM."""
        from django.db.models import F

        return queryset.order_by(F("name").asc(nulls_first=True) if self.postgres else "name", "id")


def raw_search(bench: Bench, text: str, *, limit: int, columns: tuple[str, ...] | None = None,
               by_name: bool = False, owner: int | None = None, before: int | None = None) -> list:
    """The hand-written reference for a search page: the search index queried directly, newest first.

    What a developer would write against the same index, with the words turned into tokens
    as the index stores them (crmkit.engine.query.tokens), every word required, Latin words
    as prefixes (one or two characters as their prefix token, `index_form`: "z" as "ᵖz"): SQLite joins the FTS5 table, `... JOIN account ON account.id = <fts>.rowid
    WHERE <fts> MATCH '<column filter>: "token"*' ORDER BY <fts>.rowid DESC` (FTS5 reads its
    doclists backwards and stops at the limit); PostgreSQL reads every match from the GIN index
    first (`WITH found AS MATERIALIZED (SELECT id FROM <search table> WHERE <name tokens> @@ q
    OR <phone tokens> @@ q)`), then the accounts of the newest n of them (with `owner`, of
    those the rep owns): left to itself, PostgreSQL walks the whole primary key for a rare word. by_name=True sorts by name instead (every match sorted, on both sides);
    `owner` adds `owner_id = :owner`, a sales rep's row filter in the bench's data (no shares);
    `before` starts below that id (a keyset page).
    """
    from sqlalchemy import column, table as named_table

    from crmkit.engine.query.search_index import token_column
    from crmkit.engine.query.tokens import index_form, query_tokens

    name, phone = token_column("name"), token_column("phone")
    table = bench.table
    index_table = f"crmkit_{table.name}_search"
    conditions, parameters = [], {}
    for number, word in enumerate(text.split()):
        tokens = [index_form(*token) for token in query_tokens(word)]  # "z": its prefix token "ᵖz", an exact key
        if bench.postgres:
            parameters[f"q{number}"] = " & ".join(f"'{token}'" + (":*" if prefix else "") for token, prefix in tokens)
            conditions.append(f"({name} @@ CAST(:q{number} AS tsquery) OR {phone} @@ CAST(:q{number} AS tsquery))")
        else:
            conditions.append(" AND ".join(f'"{token}"' + ("*" if prefix else "") for token, prefix in tokens))
    selected = [table.c[name] for name in columns] if columns else [table]
    if bench.postgres:
        found = (text_clause(f"SELECT id FROM {index_table} WHERE {' AND '.join(conditions)}")
                 .bindparams(**parameters).columns(column("id")).cte("found").prefix_with("MATERIALIZED"))
        ids = select(found.c.id)
        if owner is None and not by_name:  # the newest ids among the matches, then their accounts
            ids = ids.where(*([] if before is None else [found.c.id < before])).order_by(found.c.id.desc()).limit(limit)
            before = None
        query = select(*selected).where(table.c.id.in_(ids))
        key = table.c.id
    else:
        parameters["q"] = f"{{{name} {phone}}} : (" + " AND ".join(conditions) + ")"
        index = named_table(index_table, column("rowid"))
        query = (select(*selected).select_from(index.join(table, table.c.id == index.c.rowid))
                 .where(text_clause(f"{index_table} MATCH :q").bindparams(**parameters)))
        key = index.c.rowid
    if before is not None:
        query = query.where(key < before)
    if owner is not None:
        query = query.where(table.c.owner_id == owner)
    query = bench.name_order(query) if by_name else query.order_by(key.desc())
    return bench.raw(query.limit(limit))


#: The groups of read lines, in the order printed (`--lines` names some of them).
GROUPS = ("pages", "count", "search", "startswith", "suggest", "security", "export")


def read_lines(bench: Bench, users: dict[str, list[int]], rows: int,
               groups: tuple[str, ...] = GROUPS) -> Iterator[Result]:
    """The read lines of `groups` (names from GROUPS), in the order printed, each measured as it is yielded."""
    measured: dict[str, Callable[[], list[Result]]] = {
        "pages": lambda: page_lines(bench, rows), "count": lambda: [count_line(bench)],
        "search": lambda: search_lines(bench, users), "startswith": lambda: [startswith_line(bench), startswith_line(bench, data.COMMON_PREFIX)],
        "suggest": lambda: [suggest_line(bench, text) for text in SUGGESTED],
        "security": lambda: [security_line(bench, users, rows), shared_line(bench, users, rows)],
        "export": lambda: [export_line(bench, rows)]}
    for group in GROUPS:
        if group in groups:
            yield from measured[group]()


def _check(ours: list[int], raw: list[int]) -> str:
    return "" if ours == raw else f"; ROWS DIFFER from raw ({len(ours)} vs {len(raw)} rows)"


def _ids(page) -> list[int]:
    return [record.id for record in page.records]


def _compare(bench: Bench, name: str, ours: Callable, raw: Callable, target: Target, note: str,
             django: Callable | None = None) -> Result:
    """Time both sides, and check the first PAGE rows agree."""
    ours_first, ours_page = timed(ours)
    raw_first, raw_rows = timed(raw)
    checked = _check(_ids(ours_page), [row.id for row in raw_rows][:PAGE])
    return Result(name, *bench.paired(ours, raw, (ours_first, raw_first)), target,
                  note + checked, bench.median(django) if django else None)


def page_lines(bench: Bench, rows: int) -> list[Result]:
    table, records, django = bench.table, bench.records, bench.django
    industry = {"industry": "Technology"}
    lines = [
        _compare(bench, f"page of {PAGE}, default sort (name)", lambda: records.query(limit=PAGE),
                 lambda: bench.raw(bench.name_order(select(table)).limit(PAGE + 1)), INDEXED_PAGE,
                 "Django: model instances",
                 lambda: list(bench.django_name_order(django)[:PAGE + 1])),
        _compare(bench, f"page of {PAGE}, filter industry, sort name",
                 lambda: records.query(industry, sort=("name",), limit=PAGE),
                 lambda: bench.raw(bench.name_order(select(table).where(table.c.industry == "Technology"))
                                   .limit(PAGE + 1)), INDEXED_PAGE, "Django: model instances",
                 lambda: list(bench.django_name_order(django.filter(industry="Technology"))[:PAGE + 1])),
    ]
    deep = bench.raw(bench.name_order(select(table)).offset(rows // 2).limit(1))[0]
    cursor = page_cursor(records.query_context(), "account", ("name",), dict(deep._mapping))
    after = and_(table.c.name >= deep.name, or_(table.c.name > deep.name, table.c.id > deep.id))
    lines.append(_compare(
        bench, "keyset page from the middle", lambda: records.query(sort=("name",), limit=PAGE, after=cursor),
        lambda: bench.raw(bench.name_order(select(table).where(after)).limit(PAGE + 1)), INDEXED_PAGE,
        "raw: name >= :n AND (name > :n OR id > :id)"))
    revenue = (table.c.annual_revenue.desc(), table.c.id.desc())
    lines.append(_compare(
        bench, f"page of {PAGE}, sort by annual_revenue (no index)",
        lambda: records.query(sort=("-annual_revenue",), limit=PAGE),
        lambda: bench.raw(select(table).order_by(*revenue).limit(PAGE + 1)), NO_TARGET,
        "not indexed: a full sort on both sides"))
    return lines


def count_line(bench: Bench) -> Result:
    table, records = bench.table, bench.records
    where = table.c.industry == "Technology"
    capped = select(func.count()).select_from(select(table.c.id).where(where).limit(COUNT_CAP + 1).subquery())
    count = records.count({"industry": "Technology"})
    exact = bench.raw(select(func.count()).where(where))[0][0]
    return Result("count behind the filtered page", *bench.paired(lambda: records.count({"industry": "Technology"}),
                                                                  lambda: bench.raw(capped)), NO_TARGET,
                  f"crmkit: {count.kind} {count.value:,}; raw: count capped at {COUNT_CAP + 1:,}; exact {exact:,}")


def search_lines(bench: Bench, users: dict[str, list[int]]) -> list[Result]:
    """Searches as a list's search box sends them (no sort: newest first), one sorted by name, a rep's, and global search."""
    records = bench.records
    lines = []
    for label, word in [("common word", data.COMMON_WORD), ("rare word", data.RARE_WORD),
                        ("no match", data.NO_MATCH), ("two-character Chinese name", data.CHINESE_NAME)]:
        found = len(records.query(search=word, limit=PAGE).records)
        lines.append(_compare(bench, f"search {label} '{word}', page of {PAGE}",
                              lambda word=word: records.query(search=word, limit=PAGE),
                              lambda word=word: raw_search(bench, word, limit=PAGE + 1), SEARCH,
                              f"{found} on the page, newest first; raw: the search index queried by hand (raw_search)"))
    first = records.query(search=data.COMMON_WORD, limit=PAGE)
    last = first.records[-1].id if first.next_cursor else None  # one page only (tiny data): page 1 again
    lines.append(_compare(bench, f"search common word '{data.COMMON_WORD}', keyset page 2",
                          lambda: records.query(search=data.COMMON_WORD, limit=PAGE, after=first.next_cursor),
                          lambda: raw_search(bench, data.COMMON_WORD, limit=PAGE + 1, before=last),
                          SEARCH, "raw: the same, below the last id of page 1"))
    rep_id = users["sales_rep"][-1]
    rep = bench.crm.as_user(rep_id).records("account")
    lines.append(_compare(bench, f"search common word '{data.COMMON_WORD}', a sales rep",
                          lambda: rep.query(search=data.COMMON_WORD, limit=PAGE),
                          lambda: raw_search(bench, data.COMMON_WORD, limit=PAGE + 1, owner=rep_id), SEARCH,
                          "private sharing: the rep's own accounts; raw: owner_id = :rep"))
    matches = records.count(search=data.COMMON_WORD, exact=True).value
    lines.append(_compare(bench, f"search common word sorted by name (full sort of {matches:,} matches on both sides)",
                          lambda: records.query(search=data.COMMON_WORD, sort=("name",), limit=PAGE),
                          lambda: raw_search(bench, data.COMMON_WORD, limit=PAGE + 1, by_name=True), NO_TARGET,
                          "an explicit sort is honoured: every match is sorted"))
    admin = bench.crm.as_user(users["admin"][0])
    for label, word in [("no match", data.NO_MATCH), ("two-character Chinese name", data.CHINESE_NAME)]:
        lines.append(Result(f"global search {label} '{word}' (every object)",
                            *bench.paired(lambda word=word: admin.search(word),
                                          lambda word=word: raw_search(bench, word, limit=20)), SEARCH,
                            "one operation over every object; raw: the account index alone, newest first"))
    word = data.SHORT_PREFIX  # the results page (/search): each object's best hits and its count, capped at 1,000
    lines.append(Result(f"global search one-character prefix '{word}' (every object, with counts)",
                        *bench.paired(lambda: admin.search_by_object(word),
                                      lambda: raw_search(bench, word, limit=20)), SEARCH,
                        "each object's hits and count; raw: the account index alone, newest first"))
    return lines


def startswith_line(bench: Bench, prefix: str = data.PREFIX) -> Result:
    """crmkit gets the prefix in lower case (its startswith ignores case); raw the data's case."""
    table, records = bench.table, bench.records
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    condition = {"name": {"startswith": prefix.lower()}}
    return _compare(bench, f"startswith '{prefix.lower()}', page of {PAGE}",
                    lambda: records.query(condition, sort=("name",), limit=PAGE),
                    lambda: bench.raw(bench.name_order(select(table).where(table.c.name >= prefix, table.c.name < upper))
                                      .limit(PAGE + 1)),
                    STARTSWITH, "raw: index range name >= :p AND name < :p_next (data's case)")


#: The suggest lines' texts: a common word ("wonka": 4% of the accounts) beside a short prefix held by some
#: ("12": 1.7%), by few ("z") and by very few ("zo"): the rare part of a search is what its page reads first.
SUGGESTED = ("wonka 12", "wonka z", "wonka zo")


def suggest_line(bench: Bench, text: str = "wonka 12") -> Result:
    records = bench.records
    ours = [record_id for record_id, _ in records.suggest(text)]
    raw = [row.id for row in raw_search(bench, text, limit=10, columns=("id", "name"))]
    return Result(f"lookup autocomplete suggest('{text}')",
                  *bench.paired(lambda: records.suggest(text),
                                lambda: raw_search(bench, text, limit=10, columns=("id", "name"))), SEARCH,
                  "titles starting with the text by title, then matches newest first; raw: the search index "
                  "queried by hand, newest first (raw_search)" + _check(ours, raw))


def security_line(bench: Bench, users: dict[str, list[int]], rows: int) -> Result:
    """The default page for a sales rep at the bottom of the hierarchy and for an administrator."""
    rep = bench.crm.as_user(users["sales_rep"][-1]).records("account")
    admin = bench.crm.as_user(users["admin"][0]).records("account")
    seen = rep.count(exact=True).value
    return Result(f"page of {PAGE}: sales rep vs admin (private)",
                  *bench.paired(lambda: rep.query(limit=PAGE), lambda: admin.query(limit=PAGE)),
                  Target("<= 1.5x admin", ratio=1.5),
                  f"account sharing is private: the rep sees {seen:,} of {rows:,}; raw column = admin")


def shared_line(bench: Bench, users: dict[str, list[int]], rows: int) -> Result:
    """The same for a sales rep with one record shared with them: their row filter is `owner = me OR id IN (shared)`."""
    rep_id = users["sales_rep"][-2]
    admin = bench.crm.as_user(users["admin"][0])
    rep = bench.crm.as_user(rep_id).records("account")
    if not any(record.values["owner_id"] != rep_id for record in rep.query(limit=PAGE).records):
        table = bench.table
        other = bench.raw(bench.name_order(select(table.c.id).where(table.c.owner_id != rep_id)).limit(1))[0].id
        admin.sharing.share("account", other, user_id=rep_id)
        rep = bench.crm.as_user(rep_id).records("account")
    accounts = admin.records("account")
    return Result(f"page of {PAGE}: sales rep with a shared record vs admin",
                  *bench.paired(lambda: rep.query(limit=PAGE), lambda: accounts.query(limit=PAGE)),
                  Target("<= 1.5x admin", ratio=1.5),
                  "owner = me OR id IN (shared): each branch read along its own index")


def export_line(bench: Bench, rows: int) -> Result:
    """Export min(100,000, rows) accounts in id order as CSV: crmkit's export vs Core + csv."""
    table, records = bench.table, bench.records
    size = min(EXPORT_ROWS, rows)
    last = bench.raw(select(table.c.id).order_by(table.c.id).offset(size - 1).limit(1))[0].id
    columns = ["id", *(name for name in records.obj.fields), "owner_id", "created_at", "updated_at"]

    def ours() -> None:
        sink = io.StringIO()
        for text in records.export({"id": {"lte": last}}, sort=("id",)):
            sink.write(text)

    def raw() -> None:
        sink = io.StringIO()
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(columns)
        query = select(*(table.c[name] for name in columns)).where(table.c.id <= last).order_by(table.c.id)
        with bench.crm.engine.connect() as connection:
            for row in connection.execution_options(yield_per=1000).execute(query):
                writer.writerow(row)

    return Result(f"export {size:,} rows as CSV", elapsed(ours), elapsed(raw), Target("<= 1.5x", ratio=1.5),
                  "raw: Core + csv module, same columns and rows")
