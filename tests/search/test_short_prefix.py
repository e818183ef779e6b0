"""A short prefix ("1", "12") read by each plan (query/search_pages.py): SQLite walks the newest rows of the search
index's content table, or a rep's own records, when they hold the page; the index otherwise. Whichever plan reads it,
a field the user may not read is never what finds a record, and a rep finds only their own records."""
from __future__ import annotations

import pytest

from crmkit.engine.query import search_pages
from tests.conftest import add_users


@pytest.fixture
def people(crm, probe, users):
    """Leads and accounts whose names or other fields start words with "12"; a user with leads but not their names."""
    users |= add_users(crm, [("nameless", None, ["leads"])])
    leads = probe.records("lead")
    for number in range(30):
        leads.create({"name": f"Lead 12{number}" if number % 2 else f"Lead {number}",
                      "email": f"x{number}@example.com" if number % 3 else f"12x{number}@example.com"})
    accounts = probe.records("account")
    for number in range(30):
        record = accounts.create({"name": f"Firm 12{number}", "notes": "plain",
                                  "secret": "12 secret" if number % 4 == 0 else "none"})
        accounts.update(record.id, {"owner_id": users["rep1"] if number % 2 else users["rep2"]},
                        version=record.version)
    return users


def _ids(crm, user: int, object_name: str, words: str, limit: int) -> list[int]:
    """Every id a search gives, page after keyset page."""
    records, ids, cursor = crm.as_user(user).records(object_name), [], None
    while True:
        page = records.query(search=words, limit=limit, after=cursor)
        ids += [record.id for record in page.records]
        cursor = page.next_cursor
        if cursor is None:
            return ids


PLANS = {"walked": {}, "index": {"short_prefix": lambda _match: False},
         "walk too short": {"SHORT_WALKED": 2, "OWNER_WALKED": 2, "WALKED": 2}}


@pytest.mark.parametrize("plan", list(PLANS))
def test_a_short_prefix_finds_by_readable_fields_and_own_records_alone_whichever_plan_reads_it(
        crm, people, monkeypatch, plan):
    for name, value in PLANS[plan].items():
        monkeypatch.setattr(search_pages, name, value)
    system = crm.as_system()
    leads = {record.id: record for record in system.records("lead").query(limit=100).records}
    by_name = sorted((i for i, lead in leads.items() if " 12" in f" {lead['name']}"), reverse=True)
    by_email = sorted((i for i, lead in leads.items() if lead["email"].startswith("12")), reverse=True)
    assert by_name and by_email
    assert _ids(crm, people["leader"], "lead", "12", 4) == sorted(set(by_name) | set(by_email), reverse=True)
    assert _ids(crm, people["nameless"], "lead", "12", 4) == by_email  # the name is not theirs to search
    accounts = {record.id: record for record in system.records("account").query(limit=100).records}
    for rep in ("rep1", "rep2"):
        own = sorted((i for i, account in accounts.items() if account["owner_id"] == people[rep]), reverse=True)
        assert _ids(crm, people[rep], "account", "1", 3) == own
        assert _ids(crm, people[rep], "account", "12", 5) == own
    assert _ids(crm, people["admin"], "account", "1", 7) == sorted(accounts, reverse=True)
