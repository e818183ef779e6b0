"""Attack on suggest's titles-first read (commit 45ce38f: the titles starting with the text are read first, by the
prefix filter, and when they fill the list no search is read).

Before it, when the search held every match and the title was searched, the titles starting with the text were
picked from the matches in Python (`_title_starts`, full Unicode case); now always by the database's filter
(lower() ... LIKE), whose lower() folds only A-Z on SQLite. Checked here: that ranking, the wildcards of the
prefix filter, and that the titles-first read keeps the access rules of lists (row filters, the recycle bin).
SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from tests.conftest import add_users

PACKAGE = """
package: attack6
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      company: [create, read, edit, delete]
objects:
  company:
    title_field: name
    sharing: private
    default_sort: [name]
    fields:
      name: {type: text, searchable: true}
"""


@pytest.fixture
def companies(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm.as_system().records("company")


def titles(records, text, **options):
    return [title for _, title in records.suggest(text, **options)]


def test_a_title_starting_with_the_text_in_another_case_beyond_a_z_ranks_first(companies):
    """"MÜLLER GmbH" starts with "müller" (str.lower, as `_title_starts` and the search fold it): it ranks before a
    newer record that only mentions Müller, as it did when the matches were in hand."""
    companies.create({"name": "MÜLLER GmbH"})
    companies.create({"name": "Haus Müller"})
    assert titles(companies, "müller") == ["MÜLLER GmbH", "Haus Müller"]
    assert titles(companies, "Müller") == ["MÜLLER GmbH", "Haus Müller"]


@pytest.mark.parametrize("text, expected", [("%", ["%Rabatt"]), ("_", ["_intern"]), ("\\", ["\\back"]),
                                            ("/", ["/slash"])])
def test_wildcards_in_the_text_are_plain_characters_of_the_title(companies, text, expected):
    for name in ["%Rabatt", "100% Acme", "_intern", "a_b", "a0x", "\\back", "/slash", "plain"]:
        companies.create({"name": name})
    assert titles(companies, text) == expected
    # "a0x" would sort before "a_b" if "_" matched any character: the one title starting with "a_" fills the list
    assert titles(companies, "a_", limit=1) == ["a_b"]


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_a_blank_text_lists_the_first_titles(companies, text):
    for name in ["b", "a", "c"]:
        companies.create({"name": name})
    assert titles(companies, text, limit=2) == ["a", "b"]


def test_titles_first_holds_each_record_once_and_honours_the_limit(companies):
    for name in ["Ärzte Süd", "ÄRZTE Nord", "ärzte West", "Haus der Ärzte"]:
        companies.create({"name": name})
    found = companies.suggest("ärzte", limit=10)
    assert len({record_id for record_id, _ in found}) == len(found) == 4
    assert [title for _, title in found][-1] == "Haus der Ärzte"
    assert len(companies.suggest("ärzte", limit=2)) == 2


def test_titles_first_offers_no_record_in_the_recycle_bin(companies):
    kept = companies.create({"name": "Acme kept"}).id
    gone = companies.create({"name": "Acme gone"}).id
    companies.delete(gone)
    assert [record_id for record_id, _ in companies.suggest("acme", limit=1)] == [kept]
    assert [record_id for record_id, _ in companies.suggest("acme gone")] == []


def test_titles_first_offers_a_rep_only_the_records_the_rep_may_see(crm, companies):
    users = add_users(crm, [("rep", "rep", ["sales"]), ("other", "rep", ["sales"])])
    for name in ["Acme A", "Acme B", "Acme C"]:
        crm.as_user(users["other"]).records("company").create({"name": name})
    own = crm.as_user(users["rep"]).records("company").create({"name": "Acme Z"}).id
    rep = crm.as_user(users["rep"]).records("company")
    assert [record_id for record_id, _ in rep.suggest("acme", limit=1)] == [own]
    assert [record_id for record_id, _ in rep.suggest("acme", limit=3)] == [own]


HIDDEN_TITLES = """
package: attack6_hidden
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit]
      deal: [create, read, edit]
      vault: [read]
  secrets:
    fields:
      vault.code: [read]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {type: text, searchable: true}
  deal:
    title_field: label
    sharing: public_read
    fields:
      account: {type: lookup, to: account}
      label: {type: formula, returns: text, formula: "account.name", searchable: true}
  vault:
    title_field: code
    sharing: public_read
    fields:
      code: {type: text, searchable: true}
      note: {type: text, searchable: true}
"""


@pytest.fixture
def hidden_titles(crm, write_package, install_once):
    install_once(write_package(HIDDEN_TITLES, "hidden.yaml"))
    system = crm.as_system()
    account = system.records("account").create({"name": "Secret Corp"}).id
    system.records("deal").create({"account": account})
    for code in ["Zeta 1", "Zeta 2", "Zeta 3"]:
        system.records("vault").create({"code": code, "note": "public"})
    (rep,) = add_users(crm, [("rep", "rep", ["sales"])]).values()
    return crm.as_user(rep)


@pytest.mark.parametrize("limit", [1, 10])
def test_a_derived_title_over_a_record_the_user_may_not_see_is_not_suggested_by_its_value(crm, hidden_titles, limit):
    """The rep sees the deal, not its account: the deal's title copying the account's name shows nothing."""
    assert [title for _, title in crm.as_system().records("deal").suggest("Secret", limit=limit)] == ["Secret Corp"]
    deals = hidden_titles.records("deal")
    assert deals.suggest("Secret", limit=limit) == []
    assert deals.suggest("secret corp", limit=limit) == []


@pytest.mark.parametrize("limit", [1, 10])
def test_a_title_field_the_user_may_not_read_is_neither_searched_nor_shown(crm, hidden_titles, limit):
    assert len(crm.as_system().records("vault").suggest("Zeta", limit=limit)) == min(limit, 3)
    vault = hidden_titles.records("vault")
    assert vault.suggest("Zeta", limit=limit) == []
    assert vault.suggest("zeta 2", limit=limit) == []
    assert [title for _, title in vault.suggest("public", limit=limit)] == [
        str(record_id) for record_id, _ in vault.suggest("public", limit=limit)]


@pytest.mark.parametrize("text, expected", [
    ("straße", ["STRASSE Süd", "Straße Nord", "Große Straße"]),  # "strasse", the folded form, finds STRASSE too
    ("北京", ["北京公司", "公司北京"]),
    ("İstanbul", ["İstanbul Ofis", "Haus İstanbul"]),
    ("öl", ["ÖL AG", "öl GmbH"]),
    ("ÖL", ["ÖL AG", "öl GmbH"]),
])
def test_titles_starting_with_the_text_rank_first_alike_on_every_database(companies, text, expected):
    for name in ["İstanbul Ofis", "Haus İstanbul", "Straße Nord", "Große Straße", "STRASSE Süd", "北京公司",
                 "公司北京", "ÖL AG", "öl GmbH"]:
        companies.create({"name": name})
    assert titles(companies, text) == expected
    assert titles(companies, text, limit=1) == expected[:1]


@pytest.mark.parametrize("text, message", [
    ("x" * 1001, "the search has 1,001 characters; use at most 1,000."),
    ("a\x00b", "the search contains a NUL character"),
    (" ".join(["acme"] * 40), "the search has 40 words"),
])
def test_a_text_the_search_refuses_is_refused_as_the_search_not_as_a_filter_nobody_wrote(companies, text, message):
    """Since 45ce38f the title pages are read before the search: their startswith filter refused a long or NUL
    text in its own words ("'startswith' on name got 1,001 characters"), and a text of many words starting a
    title was not refused at all when the titles filled the list."""
    from crmkit.engine.query import QueryError

    companies.create({"name": " ".join(["acme"] * 40)})
    with pytest.raises(QueryError) as refused:
        companies.suggest(text, limit=1)
    assert message in str(refused.value)
