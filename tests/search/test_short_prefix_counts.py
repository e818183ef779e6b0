"""A count and global search's "does this object hold it" of a short prefix ("1", "12") on SQLite.

FTS5 merges the list of every word starting with a short prefix before it yields a first match (280-390 ms
for "1" at the bench's 1,000,000 accounts), and a capped count or an EXISTS asked it exactly that. The newest
rows of the FTS5 content table answer instead when they hold the prefix (query/search_pages.py
`walked_count`, records/global_search.py `_newest_hold`); the answers are FTS5's.
"""
from __future__ import annotations

import pytest

from crmkit.engine.query import QuerySpec, search_pages
from crmkit.engine.query.counting import Count, count_records
from crmkit.engine.records.global_search import objects_without_matches
from tests.engine.test_search_plans import ROWS, _fts5_reads, context, crm  # noqa: F401 (the module's accounts)


def counted(crm, spec: QuerySpec, cap: int, owner: int | None = None) -> Count:  # noqa: F811
    with crm.engine.connect() as connection:
        return count_records(connection, context(crm, owner), "account", spec, cap=cap)


def fts5_count(crm, monkeypatch, spec: QuerySpec, cap: int, owner: int | None = None) -> Count:  # noqa: F811
    with monkeypatch.context() as patched:
        patched.setattr(search_pages, "walked_count", lambda *_arguments: None)
        patched.setattr("crmkit.engine.query.counting.walked_count", lambda *_arguments: None)
        return counted(crm, spec, cap, owner)


@pytest.mark.parametrize("probed", [50, 2_000])
@pytest.mark.parametrize(("word", "cap"), [("1", 3), ("1", 30), ("3", 10), ("39", 2), ("39", 40), ("12", 5),
                                           ("zq", 5), ("wonka 3", 4), ("1", 10_000)])
def test_a_capped_count_of_a_short_prefix_is_fts5s_count(crm, monkeypatch, probed, word, cap):  # noqa: F811
    """Both databases, whichever way it is read: the count of a short prefix, exact up to the cap and "at least"
    beyond, is the one FTS5 gives; an administrator's, and a rep's."""
    monkeypatch.setattr(search_pages, "PROBED", probed)
    monkeypatch.setattr(search_pages, "OWNER_PROBED", min(probed, 200))
    spec = QuerySpec(search=word)
    for owner in (None, 2):
        assert counted(crm, spec, cap, owner) == fts5_count(crm, monkeypatch, spec, cap, owner), (owner, word)


@pytest.mark.parametrize("owner", [None, 2])
def test_a_common_short_prefix_is_counted_from_the_newest_records_without_reading_every_match(
        crm, plan_reader, monkeypatch, owner):  # noqa: F811
    """The accounts' names end in their number: "3" starts a word of each of the newest 50 (PROBED, OWNER_PROBED:
    399 down to 350; rep 2's 396, 391, ...), so a count capped at 3 walks the caller's newest few (a rep's along
    the owner index) and stops there: "at least 3" (PostgreSQL: an administrator gets the planner's estimate
    beyond the cap, as before). No statement asks the index for every match: SQLite's FTS5 merging every word
    starting with "3", PostgreSQL's GIN bitmap of them."""
    monkeypatch.setattr(search_pages, "PROBED", 50)
    monkeypatch.setattr(search_pages, "OWNER_PROBED", 50)
    spec = QuerySpec(search="3")
    with plan_reader(crm.engine).reads() as seen:
        count = counted(crm, spec, 3, owner)
    assert count == fts5_count(crm, monkeypatch, spec, 3, owner) and count.value >= 3 and not count.exact
    statements = [statement for statement, _ in seen if not statement.lstrip().startswith("EXPLAIN")]
    assert not any(_fts5_reads(statement) or "IN (SELECT crmkit_account_search.id" in statement
                   or "IN (SELECT id FROM crmkit_account_search" in statement for statement in statements), statements
    if crm.engine.dialect.name == "sqlite":
        assert any("AS held" in statement and ">= ?" in statement for statement in statements), statements
    else:
        assert any("AS walked" in statement for statement in statements), statements
    if owner is not None:  # the rep's records in id order along an index, no sort (SQLite: the owner index)
        plans = [plan for plan in plan_reader(crm.engine).plans(lambda: counted(crm, spec, 3, owner))
                 if "account" in str(plan)]
        assert plans and not any(plan.sorts or plan.full_scans("account") for plan in plans), plans
        if crm.engine.dialect.name == "sqlite":
            assert any("ix_account_owner_id" in line for plan in plans for line in plan.lines), plans


def test_sqlite_counts_a_table_smaller_than_the_probe_exactly_by_walking_it(crm, plan_reader):  # noqa: F811
    """Fewer rows than PROBED (2,000): the walk reads every row, so its count is exact, with no FTS5 read."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's FTS5")
    assert ROWS < search_pages.PROBED
    with plan_reader(crm.engine).reads() as seen:
        count = counted(crm, QuerySpec(search="3"), 10_000)
    assert count.exact and count.value == sum("3" in name[:1] or " 3" in name for name in _names())
    assert not any(_fts5_reads(statement) for statement, _ in seen)


@pytest.mark.parametrize("spec", [QuerySpec(search="zq"), QuerySpec(search="1", filter={"name": {"startswith": "w"}})])
def test_sqlite_counts_a_rare_prefix_and_a_filtered_one_with_fts5(crm, plan_reader, monkeypatch, spec):  # noqa: F811
    """A prefix the newest records do not hold ("zq"), a count with a filter: FTS5 counts them."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's FTS5")
    monkeypatch.setattr(search_pages, "PROBED", 50)
    monkeypatch.setattr(search_pages, "OWNER_PROBED", 50)
    for owner in (None, 2):
        with plan_reader(crm.engine).reads() as seen:
            counted(crm, spec, 5, owner)
        assert any(_fts5_reads(statement) for statement, _ in seen), (spec, owner)


def test_a_walk_that_finds_fewer_than_the_cap_leaves_the_count_to_fts5(crm, plan_reader, monkeypatch):  # noqa: F811
    """The probe's share says the walk holds cap + 1, but the rows walked hold fewer (told that every row of the
    newest 50 holds "1", which none of them does, the walk reads 39 rows for a cap of 30): FTS5 counts, and the
    count is its."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's FTS5")
    monkeypatch.setattr(search_pages, "PROBED", 50)
    monkeypatch.setattr(search_pages, "_content_probe", lambda *_arguments: (50, 50))  # "every row holds it"
    with plan_reader(crm.engine).reads() as seen:
        count = counted(crm, QuerySpec(search="1"), 30)
    assert count == fts5_count(crm, monkeypatch, QuerySpec(search="1"), 30)
    statements = [statement for statement, _ in seen]
    assert any("AS held" in statement for statement in statements) and any(map(_fts5_reads, statements))


@pytest.mark.parametrize(("word", "held"), [("1", True), ("39", True), ("zq", False), ("wonka 3", True)])
def test_global_search_asks_the_newest_rows_before_fts5_whether_an_object_holds_a_short_prefix(
        crm, plan_reader, word, held):  # noqa: F811
    """SQLite: a short prefix the newest content rows hold answers "held" from them (OR stops at the first true);
    one they do not hold is asked of FTS5. Both databases: the answer is the index's."""
    with crm.engine.connect() as connection:
        contexts = {"account": context(crm)}
        with plan_reader(crm.engine).reads() as seen:
            without = objects_without_matches(connection, contexts, word)
    assert ("account" not in without) is held
    if crm.engine.dialect.name == "sqlite":
        statement = " ".join(statement for statement, _ in seen)
        assert "AS probed" in statement and " OR EXISTS" in statement, statement


def _names() -> list[str]:
    from tests.engine.test_search_plans import _name

    return [_name(number).lower() for number in range(ROWS)]
