"""The order of a search: newest first unless the caller names a sort (query/sorting.py `page_sort`).

Every rule is checked on each way a page can be read (query/search_pages.py): on
PostgreSQL few matches are read by id among the matching ids, many by walking the records
newest first, and a walk that finds no full page falls back to every match; the limits
that choose between them are made tiny here so that a handful of records takes each path.
"""
from __future__ import annotations

import re

import pytest

from crmkit.engine.query import search_pages
from crmkit.engine.records.global_search import Match
from tests.conftest import add_users

PACKAGE = """
package: ordered
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      company: [create, read, edit]
objects:
  company:
    title_field: name
    sharing: private
    default_sort: [name]
    fields:
      name: {type: text, searchable: true}
      city: {type: text}
  person:
    title_field: name
    default_sort: [name]
    fields:
      name: {type: text, searchable: true}
"""

#: (FEW_MATCHES, WALKED, COMMON_SHARE, INDEX_WALKED) for PostgreSQL's paths: few matches read by id;
#: many, walked after reading the ids; a walk too short for a page (every match read instead); a
#: common word walked first; without a filter, a word the statistics know walked along the search
#: table's primary key ("index walk"), or that walk too short for a page (the newest matching ids instead).
PATHS = {"few": (10_000, 5_000, 1.0, 0), "walk": (2, 1_000, 1.0, 0), "fallback": (2, 3, 1.0, 0),
         "common": (2, 1_000, -1.0, 0), "index walk": (10_000, 5_000, 1.0, 1_000),
         "short index walk": (10_000, 5_000, 1.0, 2)}


#: Each PostgreSQL path on PostgreSQL; SQLite reads every search one way (FTS5 order), so once.
ON_EVERY_PATH = pytest.mark.parametrize(["database_url", "path"],
                                        [("sqlite", "few"), *(("postgresql", name) for name in PATHS)], indirect=True)


@pytest.fixture
def path(request, monkeypatch):
    few, walked, common, index_walked = PATHS[request.param]
    monkeypatch.setattr(search_pages, "FEW_MATCHES", few)
    monkeypatch.setattr(search_pages, "WALKED", walked)
    monkeypatch.setattr(search_pages, "COMMON_SHARE", common)
    if index_walked:  # every word counts as known to be held by every record
        monkeypatch.setattr(search_pages, "INDEX_WALKED", index_walked)
        monkeypatch.setattr(search_pages, "expected_share", lambda _connection, _match, known=False: float(known))
    return request.param


@pytest.fixture
def companies(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm.as_system().records("company")


def _create(records, names: list[str], **values) -> list[int]:
    return [records.create({"name": name, **values}).id for name in names]


def _all_pages(records, limit: int, **options) -> list[list[int]]:
    """The ids of every page of a query, following the cursors to the end."""
    pages, after = [], None
    while True:
        page = records.query(limit=limit, after=after, **options)
        pages.append([record.id for record in page.records])
        if page.next_cursor is None:
            return pages
        after = page.next_cursor


@ON_EVERY_PATH
def test_a_search_without_a_sort_is_newest_first_not_in_the_default_sort(companies, path):
    ids = _create(companies, ["Acme Zeta", "Acme Alpha", "Other", "Acme Mid"])
    page = companies.query(search="acme")
    assert [record.id for record in page.records] == [ids[3], ids[1], ids[0]]


def test_a_list_without_a_search_keeps_the_default_sort(companies):
    _create(companies, ["Acme Zeta", "Acme Alpha", "Acme Mid"])
    assert [record["name"] for record in companies.query().records] == ["Acme Alpha", "Acme Mid", "Acme Zeta"]


@ON_EVERY_PATH
@pytest.mark.parametrize("sort", [("name",), ("-name",)])
def test_an_explicit_sort_is_honoured_even_when_it_is_the_default(companies, path, sort):
    _create(companies, ["Acme Zeta", "Acme Alpha", "Other", "Acme Mid"])
    names = [record["name"] for record in companies.query(search="acme", sort=sort).records]
    assert names == sorted(["Acme Zeta", "Acme Alpha", "Acme Mid"], reverse=sort[0].startswith("-"))


@ON_EVERY_PATH
def test_an_explicit_id_sort_reads_oldest_first(companies, path):
    ids = _create(companies, ["Acme 1", "Acme 2", "Acme 3"])
    assert [record.id for record in companies.query(search="acme", sort=("id",)).records] == ids


@ON_EVERY_PATH
def test_keyset_pages_of_a_search_hold_every_match_once_newest_first(companies, path):
    matching = []
    for number in range(23):
        matching.extend(_create(companies, [f"Acme {number}"]))
        _create(companies, [f"Other {number}"])
    pages = _all_pages(companies, 5, search="acme")
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [record_id for page in pages for record_id in page] == sorted(matching, reverse=True)


@ON_EVERY_PATH
def test_keyset_pages_of_an_explicitly_sorted_search_hold_every_match_once(companies, path):
    names = [f"Acme {letter}" for letter in "qwertyuiopasdfg"]
    _create(companies, names)
    pages = _all_pages(companies, 4, search="acme", sort=("name",))
    found = [companies.get(record_id)["name"] for page in pages for record_id in page]
    assert found == sorted(names)


@ON_EVERY_PATH
def test_a_filtered_search_is_newest_first_among_the_filtered(companies, path):
    shanghai = _create(companies, ["Acme A", "Acme B"], city="Shanghai")
    _create(companies, ["Acme C", "Acme D", "Acme E"], city="Berlin")
    shanghai += _create(companies, ["Acme F"], city="Shanghai")
    page = companies.query({"city": "Shanghai"}, search="acme", limit=2)
    assert [record.id for record in page.records] == [shanghai[2], shanghai[1]]
    rest = companies.query({"city": "Shanghai"}, search="acme", limit=2, after=page.next_cursor)
    assert [record.id for record in rest.records] == [shanghai[0]] and rest.next_cursor is None


@ON_EVERY_PATH
def test_a_rep_pages_through_only_their_own_matches(crm, companies, path):
    users = add_users(crm, [("rep1", "rep", ["sales"]), ("rep2", "rep", ["sales"])])
    first, second = (crm.as_user(users[name]).records("company") for name in ("rep1", "rep2"))
    own = []
    for number in range(9):
        own.extend(_create(first, [f"Acme own {number}"]))
        _create(second, [f"Acme theirs {number}", f"Acme more {number}"])
    pages = _all_pages(first, 4, search="acme")
    assert [record_id for page in pages for record_id in page] == sorted(own, reverse=True)


@ON_EVERY_PATH
def test_no_match_and_a_punctuation_search_find_nothing(companies, path):
    _create(companies, ["Acme"])
    assert companies.query(search="xyzzy").records == []
    assert companies.query(search="%").records == []


def test_a_cursor_of_a_search_page_is_refused_for_the_default_sorted_list(companies):
    from crmkit.engine.query import QueryError

    _create(companies, ["Acme 1", "Acme 2", "Acme 3"])
    page = companies.query(search="acme", limit=1)
    with pytest.raises(QueryError, match="another sort order"):
        companies.query(limit=1, after=page.next_cursor)


@ON_EVERY_PATH
def test_suggest_offers_title_prefixes_by_title_then_other_matches_newest_first(companies, path):
    _create(companies, ["Acme Zeta", "Old Acme", "Acme Alpha", "New Acme"])
    assert [title for _, title in companies.suggest("acme")] == ["Acme Alpha", "Acme Zeta", "New Acme", "Old Acme"]


def test_suggest_reads_no_search_when_the_titles_starting_with_the_text_fill_the_list(crm, companies, plan_reader):
    """The titles starting with the text come first, read as an index range; when they fill the list the search
    is not read (PostgreSQL: a bitmap of "Wonka Industries 12" reads every row holding each word, 38 ms at
    1,000,000 accounts, where the title range takes 2). One short, the search adds its newest other match."""
    from crmkit.engine.query.search_index import search_table_name

    _create(companies, ["Acme Zeta", "New Acme", "Acme Alpha", "Acme Mid", "Old acme"])
    with plan_reader(crm.engine).reads() as seen:
        assert [title for _, title in companies.suggest("acme", limit=3)] == ["Acme Alpha", "Acme Mid", "Acme Zeta"]
    assert seen and not any(search_table_name("company") in statement for statement, _ in seen), seen
    assert [title for _, title in companies.suggest("ACME", limit=4)] == [
        "Acme Alpha", "Acme Mid", "Acme Zeta", "Old acme"]


def test_global_search_ranks_exact_titles_then_title_matches_by_object_then_the_newest_other_matches(crm, install):
    install(PACKAGE)
    system = crm.as_system()
    companies, people = system.records("company"), system.records("person")
    companies.create({"name": "Old Acme"})
    people.create({"name": "Acme Beta"})
    companies.create({"name": "acme"})
    people.create({"name": "Newer Acme"})
    companies.create({"name": "Acme Alpha"})
    companies.create({"name": "Globex", "city": "Acme"})
    people.create({"name": "Li Lei"})
    hits = system.search("Acme")
    assert [(hit.title, hit.match) for hit in hits] == [
        ("acme", Match.EXACT_TITLE), ("Acme Alpha", Match.TITLE_PREFIX), ("Old Acme", Match.TITLE_WORD),
        ("Acme Beta", Match.TITLE_PREFIX), ("Newer Acme", Match.TITLE_WORD)]


def test_global_search_is_one_operation_on_one_connection(crm, install):
    from sqlalchemy import event

    install(PACKAGE)
    users = add_users(crm, [("rep1", "rep", ["sales"])])
    context = crm.as_user(users["rep1"])
    context.records("company").create({"name": "Acme"})
    context.search("acme")  # the access policy reads once, on a connection of its own, whether any share exists
    checkouts = []

    def checked_out(*args) -> None:
        checkouts.append(args)

    event.listen(crm.engine, "checkout", checked_out)
    try:
        hits = context.search("acme")
    finally:
        event.remove(crm.engine, "checkout", checked_out)
    assert [hit.title for hit in hits] == ["Acme"]
    assert len(checkouts) == 1


def test_a_few_matches_page_without_filters_is_one_statement_binding_no_ids(crm, companies, plan_reader, monkeypatch):
    """PostgreSQL, few matches, no filter and no row filter: one statement reads the records of
    the newest limit + 1 matching ids (query/search_pages.py `_newest_matches`): no id is sent
    back and forth, no statement asks the planner for an estimate; the pages still hold every match once."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads the FTS5 index in id order instead")
    monkeypatch.setattr(search_pages, "COMMON_SHARE", 1.0)
    ids = _create(companies, [f"Acme {number}" for number in range(12)])
    with plan_reader(crm.engine).reads() as seen:
        page = companies.query(search="acme", limit=3)
    assert [record.id for record in page.records] == ids[::-1][:3]
    searches = [(statement, parameters) for statement, parameters in seen if "crmkit_company_search" in statement]
    assert len(searches) == 1, seen
    statement, parameters = searches[0]
    assert "MATERIALIZED" in statement and "ORDER BY newest.id DESC" in statement, statement
    assert not [name for name in parameters if re.fullmatch(r"id_\d+_\d+", name)], parameters
    assert not [statement for statement, _ in seen if statement.lstrip().upper().startswith("EXPLAIN")], seen
    assert sum(_all_pages(companies, 5, search="acme"), []) == ids[::-1]


CRM_PACKAGE = """
package: trial
version: "1.0.0"
objects:
  account:
    title_field: name
    fields:
      name: {type: text, searchable: true}
  lead:
    title_field: name
    fields:
      name: {type: text, searchable: true}
      company: {type: text, searchable: true}
  activity:
    title_field: subject
    fields:
      subject: {type: text, searchable: true}
      notes: {type: text, searchable: true}
"""


@pytest.fixture
def trial(crm, write_package, install_once):
    """A new user's trial: an account, then newer leads and activities that mention it (their titles too)."""
    install_once(write_package(CRM_PACKAGE))
    system = crm.as_system()
    for name in ("上海华创软件有限公司", "北京星辰科技有限公司", "The Acme Corporation"):
        system.records("account").create({"name": name})
    for name, company in (("曹佳怡", "上海华创软件有限公司"), ("王芳", "北京星辰科技有限公司"), ("Jane Roe", "Acme")):
        system.records("lead").create({"name": name, "company": company})
    for subject in ("华创软件项目启动会", "有限公司年检提醒", "Acme kickoff", "Call"):
        system.records("activity").create({"subject": subject, "notes": "上海华创软件有限公司 Acme"})
    return system


@pytest.mark.parametrize("text, account", [("华创", "上海华创软件有限公司"), ("有限公司", "北京星辰科技有限公司"),
                                           ("acme", "The Acme Corporation")])
def test_an_account_named_by_the_text_ranks_before_newer_records_mentioning_it(trial, text, account):
    """Queries of a new user's trial (华创, 有限公司): the account whose name holds the text came after newer
    leads and activities. A title holding the text is a title match, and title matches go by object order."""
    hits = trial.search(text)
    assert (hits[0].object, hits[0].match) == ("account", Match.TITLE_WORD)
    assert account in [hit.title for hit in hits if hit.object == "account"]
    assert [group.object for group in trial.search_by_object(text)][0] == "account"
    assert all(hit.match is Match.OTHER for hit in hits if hit.object == "lead")  # found by their company


def test_an_exact_title_ranks_first_whatever_its_object_and_a_prefix_before_a_word(trial):
    trial.records("activity").create({"subject": "华创"})
    hits = trial.search("华创")
    assert [(hit.object, hit.title, hit.match) for hit in hits[:3]] == [
        ("activity", "华创", Match.EXACT_TITLE), ("account", "上海华创软件有限公司", Match.TITLE_WORD),
        ("activity", "华创软件项目启动会", Match.TITLE_PREFIX)]
    assert {hit.match for hit in hits[3:]} == {Match.OTHER}
