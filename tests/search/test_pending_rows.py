"""SQLite's pending search rows (query/search_index.py): a single create writes its search row to a plain table, moved
into FTS5 every PENDING_ROWS rows. Every search path must find a record whose row waits there exactly as it finds it
once the row is in FTS5: the same records, counts, suggestions, global hits and order, whichever plan reads them. On
PostgreSQL nothing waits, and the same checks hold (the snapshots before and after a flush are simply alike)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, table, text

from crmkit.engine.query import search_index, search_pages
from crmkit.engine.query.search import search_clause
from crmkit.engine.query.search_index import flush_pending, pending_table_name
from tests.conftest import add_users

#: Few enough that the records below are partly flushed, partly pending.
ROWS = 8

LEADS = ["Acme Corp", "Acme 12", "张伟", "上海华创软件有限公司", "华创科技", "Zebra 123", "Lead 12x", "Quokka",
         "张三丰", "Acme Industries", "Wonka 12", "北京张伟贸易", "Plain", "acmeology", "Zebra crossing", "华",
         "Lead 7", "Acme 1", "Quokka two", "上海", "Nothing here", "Acme Zebra"]
ACCOUNTS = ["Firm 12", "Acme Firm", "张伟 Ltd", "华创 Holdings", "Firm 7", "Quokka Firm", "Acme 120", "Plain Co",
            "Firm 123", "上海华创", "Acme North", "Zebra 12", "Firm 1", "Wonka", "Acme South", "Firm 99", "张", "华创",
            "Acme 12 East", "Last Firm"]
TEXTS = ["acme", "acm", "a", "12", "1", "张", "张伟", "华创", "上海华创", "华", "quokka", "xyzzy", "acme 12", "zebra 12",
         "x1", "example", "12x", "firm 1", "zhang"]
PLANS = {"as chosen": {}, "index": {"short_prefix": lambda _match: False},
         "walk too short": {"SHORT_WALKED": 2, "OWNER_WALKED": 2, "WALKED": 2}}


@pytest.fixture
def people(crm, probe, users, monkeypatch):
    monkeypatch.setattr(search_index, "PENDING_ROWS", ROWS)
    users |= add_users(crm, [("nameless", None, ["leads"])])
    leads = probe.records("lead")
    for number, name in enumerate(LEADS):
        leads.create({"name": name, "email": f"x{number}@example.com" if number % 3 else f"12x{number}@example.com"})
    accounts = probe.records("account")
    for number, name in enumerate(ACCOUNTS):
        record = accounts.create({"name": name, "notes": "plain 12" if number % 5 == 0 else "notes",
                                  "secret": "12 secret" if number % 4 == 0 else "none"})
        accounts.update(record.id, {"owner_id": users["rep1"] if number % 2 else users["rep2"]},
                        version=record.version)  # the owner is not searched: the row stays pending
    return users


def _pending(crm, object_name: str) -> int:
    name = pending_table_name(crm.runtime.search_index(object_name).name)
    with crm.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table(name))).scalar_one()


def _flush(crm) -> None:
    with crm.engine.begin() as connection:
        for object_name in ("lead", "account"):
            flush_pending(connection, crm.runtime.search_index(object_name))


def _pages(records, **query) -> list[int]:
    ids, cursor = [], None
    while True:
        page = records.query(limit=3, after=cursor, **query)
        ids += [record.id for record in page.records]
        cursor = page.next_cursor
        if cursor is None:
            return ids


def _snapshot(crm, people) -> dict:
    """Every search path's answer for every text and user."""
    seen: dict = {}
    for user in ("admin", "leader", "nameless", "rep1", "rep2"):
        session = crm.as_user(people[user])
        for words in TEXTS:
            key = (user, words)
            seen[key + ("global",)] = [(hit.object, hit.id, hit.match) for hit in session.search(words)]
            seen[key + ("by object",)] = [(part.object, part.count, [hit.id for hit in part.hits])
                                          for part in session.search_by_object(words)]
            for object_name in ("lead", "account"):
                if user in ("rep1", "rep2") and object_name == "lead" or user in ("leader", "nameless") \
                        and object_name == "account":
                    continue
                records = session.records(object_name)
                at = key + (object_name,)
                seen[at + ("newest",)] = _pages(records, search=words)
                readable = "email" if object_name == "lead" else "name"  # "nameless" may not read a lead's name
                seen[at + ("sorted",)] = _pages(records, search=words, sort=[readable])
                seen[at + ("filtered",)] = _pages(records, search=words, filter={readable: {"startswith": "1"}})
                seen[at + ("count",)] = records.count(search=words)
                seen[at + ("capped",)] = records.count(search=words, cap=2)
                seen[at + ("suggest",)] = records.suggest(words)
                field = "email" if object_name == "lead" else "notes"
                with crm.engine.connect() as connection:
                    ctx = records.query_context()
                    clause = search_clause(ctx, object_name, words, within=[field])
                    source = ctx.schema.table(object_name)
                    seen[at + ("within",)] = connection.execute(
                        select(source.c.id).where(clause).order_by(source.c.id)).scalars().all()
    return seen


@pytest.mark.parametrize("plan", list(PLANS))
def test_every_search_path_finds_pending_rows_as_it_finds_them_in_fts5(crm, people, monkeypatch, plan):
    for name, value in PLANS[plan].items():
        monkeypatch.setattr(search_pages, name, value)
    if crm.runtime.is_sqlite:
        assert _pending(crm, "lead") == len(LEADS) % ROWS and _pending(crm, "account") == len(ACCOUNTS) % ROWS
    before = _snapshot(crm, people)
    _flush(crm)
    if crm.runtime.is_sqlite:
        assert _pending(crm, "lead") == 0 and _pending(crm, "account") == 0
    after = _snapshot(crm, people)
    assert {key: value for key, value in before.items() if value != after[key]} == {}
    newest = before[("admin", "acme", "lead", "newest")]
    assert len(newest) == 6 and newest == sorted(newest, reverse=True)  # some pending (the newest), some not
    assert before[("admin", "华", "lead", "newest")] and before[("admin", "xyzzy", "global")] == []
    assert before[("rep1", "acme", "account", "newest")] and before[("admin", "张伟", "global")]


def test_a_record_updated_or_deleted_while_pending_is_found_by_its_new_words_alone(crm, probe, monkeypatch):
    monkeypatch.setattr(search_index, "PENDING_ROWS", ROWS)
    leads = probe.records("lead")
    kept = leads.create({"name": "Kiwi Fruit"})
    gone = leads.create({"name": "Kiwi Gone"})
    if crm.runtime.is_sqlite:
        assert _pending(crm, "lead") == 2
    leads.update(kept.id, {"name": "Mango Fruit"}, version=kept.version)
    leads.delete(gone.id)
    if crm.runtime.is_sqlite:
        assert _pending(crm, "lead") == 0  # the updated row went to FTS5, the deleted one nowhere
    assert [record.id for record in leads.query(search="kiwi").records] == []
    assert [record.id for record in leads.query(search="mango").records] == [kept.id]
    assert leads.count(search="fruit").value == 1 and leads.suggest("kiw") == []
    assert [hit.id for hit in crm.as_system().search("mango")] == [kept.id]


def test_the_create_that_fills_the_pending_table_moves_its_rows_into_fts5(crm, probe, monkeypatch):
    if not crm.runtime.is_sqlite:
        pytest.skip("SQLite's pending table: PostgreSQL writes its GIN index at once")
    monkeypatch.setattr(search_index, "PENDING_ROWS", 3)
    leads = probe.records("lead")
    fts = crm.runtime.search_index("lead").name
    ids = [leads.create({"name": f"Fig {number}"}).id for number in range(2)]
    with crm.engine.connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {fts}")).scalar_one() == 0
    ids.append(leads.create({"name": "Fig 2"}).id)
    assert _pending(crm, "lead") == 0
    with crm.engine.connect() as connection:
        assert connection.execute(text(f"SELECT rowid FROM {fts} ORDER BY rowid")).scalars().all() == ids
    assert leads.bulk_create([{"name": "Fig bulk"}, {"name": "Fig bulk 2"}]) == 2
    assert _pending(crm, "lead") == 0  # a bulk create writes FTS5 at once
    assert len(leads.query(search="fig").records) == 5
