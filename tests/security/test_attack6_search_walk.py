"""Attack on PostgreSQL's walk of the newest search rows for a short prefix beside a costly word (commit fe6da9b:
"wonka 12" walks the newest INDEX_WALKED rows of the search table when the statistics say the walk fills the
page). The statistics are made to say so here, and the walk made short, so that a handful of records takes the
path: a walk that finds a full page must be the page, and one that does not must give way to every match; each
match once, newest first, over every page and for a rep as for the system. Words unknown to the statistics but
too rare for the probe make the walk's guess wrong, which must cost time only.
"""
from __future__ import annotations

import pytest

from crmkit.engine.query import search_pages
from tests.conftest import add_users
from tests.security.test_attack6_suggest import PACKAGE

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def walked(crm, write_package, install_once, monkeypatch):
    install_once(write_package(PACKAGE))
    system = crm.as_system().records("company")
    names = [f"Wonka {n}" if n % 3 else f"Other {n}" for n in range(1, 31)]
    ids = {name: system.create({"name": name}).id for name in names}
    monkeypatch.setattr(search_pages, "INDEX_WALKED", 6)
    monkeypatch.setattr(search_pages, "COMMON_SHARE", 1.0)
    monkeypatch.setattr(search_pages, "largest_known_term", lambda _connection, _match: 1.0)
    monkeypatch.setattr(search_pages, "expected_share", lambda _connection, _match, known=False: 0.0 if known else 1.0)
    walks = []
    original = search_pages._index_walked

    def walk(*args, **kwargs):
        walks.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(search_pages, "_index_walked", walk)
    return ids, walks


def all_pages(records, text, limit):
    found, after = [], None
    while True:
        page = records.query(search=text, limit=limit, after=after)
        found.extend(record["name"] for record in page.records)
        if page.next_cursor is None:
            return found
        after = page.next_cursor


@ON_POSTGRESQL
@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_a_short_prefix_beside_a_costly_word_pages_through_every_match_once_newest_first(crm, walked, limit):
    walked, walks = walked
    companies = crm.as_system().records("company")
    expected = [name for name in sorted(walked, key=walked.get, reverse=True) if name.startswith("Wonka 1")]
    assert all_pages(companies, "wonka 1", limit) == expected
    assert all_pages(companies, "1 wonka", limit) == expected
    assert bool(walks) == (limit + 1 <= 6)  # the path under attack taken where a walk of 6 rows may fill the page


@ON_POSTGRESQL
def test_a_rep_walks_only_their_own_matches(crm, walked):
    (rep,) = add_users(crm, [("rep", "rep", ["sales"])]).values()
    mine = crm.as_user(rep).records("company")
    own = mine.create({"name": "Wonka 1 mine"})["name"]
    assert all_pages(mine, "wonka 1", 2) == [own]
