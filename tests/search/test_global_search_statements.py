"""Global search reads only the objects whose index holds a match (records/global_search.py
`objects_without_matches`, on both databases), and a PostgreSQL search page guesses common words from pg_stats
(query/search_statistics.py) exactly as the planner does, without a statement per search."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import column, select, table, text

from crmkit.engine.query import search_statistics
from crmkit.engine.query.counting import planner_estimate
from crmkit.engine.query.search import IndexCondition, search_clause


def _accounts(crm, users) -> None:
    """rep1's own Quokka One, rep2's Quokka Two, and rep1's account found only through its secret (hidden from reps)."""
    crm.as_user(users["rep1"]).records("account").create({"name": "Quokka One"})
    crm.as_user(users["rep2"]).records("account").create({"name": "Quokka Two"})
    system = crm.as_system().records("account")
    hidden = system.create({"name": "Plain", "secret": "zebrafish quokka"})
    system.update(hidden.id, {"owner_id": users["rep1"]}, version=hidden.version)


def test_a_reps_global_search_finds_neither_another_reps_records_nor_hidden_field_matches(crm, probe, users):
    _accounts(crm, users)
    rep1 = crm.as_user(users["rep1"])
    assert [(hit.object, hit.title) for hit in rep1.search("quokka")] == [("account", "Quokka One")]
    assert rep1.search("zebrafish") == []  # only the secret field holds it: the rep may not read it
    assert rep1.search("two") == []  # only rep2's account holds it
    admin = crm.as_user(users["admin"])
    assert {hit.title for hit in admin.search("quokka")} == {"Quokka One", "Quokka Two", "Plain"}
    assert [hit.title for hit in admin.search("zebrafish")] == ["Plain"]


def test_global_search_asks_every_index_in_one_statement_and_reads_only_objects_with_matches(
        crm, probe, users, plan_reader):
    _accounts(crm, users)
    crm.as_system().records("lead").create({"name": "Quokka Lead"})
    admin = crm.as_user(users["admin"])
    with plan_reader(crm.engine).reads() as seen:
        assert {hit.object for hit in admin.search("quokka")} == {"account", "lead"}
    asked = [statement for statement, _ in seen if "SELECT 0 WHERE" in statement]
    assert len(asked) == 1 and all(f"crmkit_{name}_search" in asked[0] for name in ("account", "contact", "lead", "deal"))
    read = {name for name in ("account", "contact", "lead", "deal")
            for statement, _ in seen if statement not in asked and re.search(rf"\b(FROM|JOIN) {name}\b", statement)}
    assert read == {"account", "lead"}, seen
    with plan_reader(crm.engine).reads() as seen:
        assert admin.search("xyzzy") == []
    assert [statement for statement, _ in seen if "_search" in statement] == asked  # nothing read but the question
    assert "quokka" not in asked[0] and "xyzzy" not in asked[0]  # the words travel as bound parameters: one statement per shape


def test_the_common_word_guess_is_the_planners_own_estimate(crm, probe, monkeypatch):
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("pg_stats is PostgreSQL's")
    system = crm.as_system().records("account")
    system.bulk_create([{"name": f"{'Acme' if number % 3 else 'Zeta'} {number} 张伟" if number % 7 else f"Other {number}"}
                        for number in range(600)])
    with crm.engine.begin() as connection:
        connection.execute(text("ANALYZE crmkit_account_search"))
    search_statistics.forget_statistics()
    monkeypatch.setattr(search_statistics, "FEW_MATCHES", 0)
    ctx = system.query_context()
    with crm.engine.connect() as connection:
        for words in ["acme", "acm", "zeta 张伟", "张伟", "xyzzy", "12", "other 5"]:
            match = search_clause(ctx, "account", words)
            index = table(match.index_table, column("id"))
            planned = (planner_estimate(connection, select(index.c.id).where(IndexCondition(match)))
                       / planner_estimate(connection, select(index.c.id)))
            expected = search_statistics.expected_share(connection, match)
            # the planner rounds its row estimate to a whole number of rows
            assert expected * 600 == pytest.approx(planned * 600, abs=1.0), words
        known = {words: search_statistics.expected_share(connection, search_clause(ctx, "account", words), known=True)
                 for words in ["xyzzy", "张伟", "acm"]}
        assert known["xyzzy"] == 0.0 and known["张伟"] > 0.5 and known["acm"] > 0.5  # a word nobody holds: not guessed
        before = search_statistics.table_statistics(connection, "crmkit_account_search")
        assert search_statistics.table_statistics(connection, "crmkit_account_search") is before  # kept


def test_an_object_whose_statistics_know_the_word_is_read_without_asking_its_index(crm, probe, users, plan_reader,
                                                                                   monkeypatch):
    """Asking would cost a bitmap of every match for an answer the statistics already give (张伟 in a large table)."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("pg_stats is PostgreSQL's")
    from crmkit.engine.records import global_search

    crm.as_system().records("account").bulk_create([{"name": f"Acme {number} 张伟"} for number in range(300)])
    with crm.engine.begin() as connection:
        connection.execute(text("ANALYZE crmkit_account_search"))
    search_statistics.forget_statistics()
    monkeypatch.setattr(search_statistics, "FEW_MATCHES", 0)
    monkeypatch.setattr(global_search, "COMMON_SHARE", 1.0)  # no word is too common to ask about
    admin = crm.as_user(users["admin"])
    asked = {}
    for word in ("张伟", "xyzzy"):
        with plan_reader(crm.engine).reads() as seen:
            hits = admin.search(word)
        asked[word] = [statement for statement, _ in seen if "UNION ALL" in statement and "EXISTS" in statement]
        assert {hit.object for hit in hits} == ({"account"} if word == "张伟" else set())
    assert "crmkit_account_search" not in asked["张伟"][0] and "crmkit_contact_search" in asked["张伟"][0]
    assert "crmkit_account_search" in asked["xyzzy"][0]  # a word the statistics do not know is asked about



def test_an_object_is_read_without_asking_its_index_about_a_short_prefix_its_statistics_do_not_know(
        crm, probe, users, plan_reader, monkeypatch):
    """A bitmap of "12" reads every index key starting with it (every number from 12 to 129,999,999 held): the
    question costs more than the object's page, which judges the prefix by the newest rows instead
    (query/search_pages.py). A longer prefix ("123"), or one the statistics know, is asked about as before;
    the hits are the same either way."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("pg_stats is PostgreSQL's")
    from crmkit.engine.records import global_search

    crm.as_system().records("account").bulk_create([{"name": f"Acme {number}"} for number in range(300)])
    with crm.engine.begin() as connection:
        connection.execute(text("ANALYZE crmkit_account_search"))
    search_statistics.forget_statistics()
    monkeypatch.setattr(search_statistics, "FEW_MATCHES", 0)
    read = search_statistics.table_statistics

    def common_only(connection, table_name):  # as a large table's: "acme", not each number
        kept = read(connection, table_name)
        return search_statistics.TableStatistics(kept.rows, {
            name: search_statistics.ColumnStatistics({token: share for token, share in column.shares.items()
                                                      if share >= 0.1}, 0.1)
            for name, column in kept.columns.items()}, kept.read_at)

    monkeypatch.setattr(search_statistics, "table_statistics", common_only)
    monkeypatch.setattr(global_search, "COMMON_SHARE", 1.0)  # no word is too common to ask about
    admin = crm.as_user(users["admin"])
    asked, found = {}, {}
    for word in ("12", "123"):
        with plan_reader(crm.engine).reads() as seen:
            found[word] = {hit.title for hit in admin.search(word, limit=50)}
        asked[word] = [statement for statement, _ in seen if "UNION ALL" in statement and "EXISTS" in statement]
    assert "crmkit_account_search" not in asked["12"][0] and "crmkit_account_search" in asked["123"][0]
    assert found["12"] == {"Acme 12", *(f"Acme {number}" for number in range(120, 130))}
    assert found["123"] == {"Acme 123"}
    monkeypatch.setattr(global_search, "unknown_short_prefix", lambda _connection, _match: False)
    assert {hit.title for hit in admin.search("12", limit=50)} == found["12"]


TITLED = """
package: titled
version: "1.0.0"
objects:
  firm:
    title_field: name
    fields:
      name: {type: text, searchable: true, indexed: true}
"""


def test_global_search_reads_an_objects_titles_starting_with_the_text_only_where_one_exists(crm, install,
                                                                                            plan_reader, monkeypatch):
    """PostgreSQL: of an object read without asking its index (statistics expecting many matches), the statement
    that asks the indexes asks whether any title starts with the text (an index range); the object's page of such
    titles, read after its matches when those fill a page, is read only where one does."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("SQLite asks every index, and a page costs it no round trip")
    from crmkit.engine.records import global_search

    monkeypatch.setattr(global_search, "_worth_asking", lambda _connection, _match: False)  # as for a common word
    install(TITLED)
    system = crm.as_system()
    firms = system.records("firm")
    firms.create({"name": "Quokka First"})  # the oldest: left out of the newest matches, found by its title
    for number in range(3):
        firms.create({"name": f"Blue Quokka Zebra {number}"})

    def firm_reads(text: str) -> tuple[list[str], list[str]]:
        with plan_reader(crm.engine).reads() as seen:
            titles = [hit.title for hit in system.search(text, objects=["firm"], limit=2)]
        reads = [statement for statement, _ in seen
                 if re.search(r"\b(FROM|JOIN) firm\b", statement) and "WHERE EXISTS (SELECT 1 FROM" not in statement]
        return titles, reads

    titles, reads = firm_reads("quokka")
    # the newest matches and the titles starting with it: how many there are (at most 200, along the folded
    # index: query/prefix_ranges.py FEW_PREFIXED, with which of its ranges hold titles) and their page
    assert titles[0] == "Quokka First" and len(reads) == 3, reads
    assert sum("SELECT count(*)" in read and 'ORDER BY lower(firm.name) COLLATE "C"' in read
               for read in reads) == 1
    titles, reads = firm_reads("zebra")
    assert len(titles) == 2 and all(title.startswith("Blue Quokka Zebra") for title in titles)
    assert len(reads) == 1  # no title starts with "zebra": its matches alone
