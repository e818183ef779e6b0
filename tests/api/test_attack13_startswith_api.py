"""Attacks on `startswith` lists read as ranges (query/prefix_ranges.py) through the REST API.

FEW_PREFIXED is lowered to 1, so every prefix whose spellings are known is read as ranges;
the pages must hold what the usual read holds (`startswith_ranges` answering None), and
what a user writes wrong is a problem document naming the condition, never a 500.
"""
from __future__ import annotations

import json

import pytest

from crmkit.engine.query import prefix_ranges, sorting

NAMES = ("Paged 1", "PAGED 2", "paged 3", "Pa 4", "pA 5", "Pb 6", "Wang paged 7")


@pytest.fixture
def pages(api, monkeypatch):
    """`pages(user, query)`: (id, name) of every record the user lists, page after page (two a page)."""
    monkeypatch.setattr(prefix_ranges, "FEW_PREFIXED", 1)
    for name in NAMES:
        api("wang" if name.startswith("Wang") else "admin").post("/objects/account", {"name": name})

    def read(user: str, query: str) -> list[tuple[int, str]]:
        names, address = [], f"/objects/account?{query}&limit=2&fields=name"
        while True:
            answer = api(user).get(address)
            assert answer.status_code == 200, answer.get_json()
            body = answer.get_json()
            names += [(row["id"], row["name"]) for row in body["data"]]
            if body["next_cursor"] is None:
                return names
            address = f"/objects/account?{query}&limit=2&fields=name&after={body['next_cursor']}"
    return read


@pytest.mark.parametrize("query", ["name__startswith=pa&name__startswith=pag&sort=name",
                                   "name__startswith=pa&name__startswith=pag&name__startswith=pa&sort=-name",
                                   "filter=" + json.dumps({"name": {"startswith": ["p", "pa", "PAGED"]}}) + "&sort=name"])
@pytest.mark.parametrize("user", ["admin", "wang"])
def test_a_list_of_prefixes_lists_each_record_once_as_the_usual_read(pages, monkeypatch, query, user):
    listed = pages(user, query)
    with monkeypatch.context() as patch:
        patch.setattr(sorting, "startswith_ranges", lambda *args, **kwargs: None)
        assert listed == pages(user, query)
    assert len(listed) == len(set(listed))


@pytest.mark.parametrize("prefix", ["pa\u0000", "\u0000"])
def test_a_nul_in_a_prefix_is_a_problem_naming_the_condition(pages, api, prefix):
    answer = api("admin").get("/objects/account", query_string={
        "filter": json.dumps({"name": {"startswith": prefix}}), "sort": "name"})
    assert answer.status_code == 400
    assert "the condition on name contains a NUL character" in answer.get_json()["detail"]


def test_a_rep_s_pages_show_the_rollups_recomputed_for_them_as_the_usual_read(api, monkeypatch):
    """Wang's accounts hold opportunities the admin owns, which wang may not see: their pipeline is recomputed for
    him in the page's statement (with_derived), read as ranges or not, never the stored sum."""
    monkeypatch.setattr(prefix_ranges, "FEW_PREFIXED", 1)
    for number in range(5):
        account = api("wang").post("/objects/account", {"name": f"Rollup {number}"}).get_json()
        answer = api("admin").post("/objects/opportunity", {"name": f"Deal {number}", "account": account["id"],
                                                            "amount": "1000", "close_date": "2030-01-01"})
        assert answer.status_code == 201, answer.get_json()

    def rows(user: str) -> list[dict]:
        return api(user).get("/objects/account?name__startswith=roll&sort=-name&limit=3").get_json()["data"]

    assert [row["pipeline_amount"] for row in rows("admin")][:1] == ["1000.00"]
    with monkeypatch.context() as patch:
        patch.setattr(sorting, "startswith_ranges", lambda *args, **kwargs: None)
        usual = rows("wang")
    assert rows("wang") == usual and len(usual) == 3
    assert all(row["pipeline_amount"] in (None, "0", "0.00") for row in usual)


@pytest.mark.parametrize("sort", ["last_name", "-last_name"])
def test_a_rep_lists_the_contacts_of_his_accounts_alone_by_a_common_surname(api, monkeypatch, sort):
    """Contacts are seen through their account (controlled_by_parent): a range page keeps that row filter."""
    monkeypatch.setattr(prefix_ranges, "FEW_PREFIXED", 1)
    for user in ("wang", "li"):
        account = api(user).post("/objects/account", {"name": f"Surnames of {user}"}).get_json()
        for number in range(4):
            answer = api(user).post("/objects/contact", {
                "last_name": f"{('Smith', 'SMITH')[number % 2]} {user} {number}", "account": account["id"],
                "email": f"smith{number}@{user}.example"})
            assert answer.status_code == 201, answer.get_json()

    def listed(user: str) -> list[tuple[int, str]]:
        found, address = [], f"/objects/contact?last_name__startswith=smi&sort={sort}&limit=3&fields=last_name"
        while address:
            body = api(user).get(address).get_json()
            found += [(row["id"], row["last_name"]) for row in body["data"]]
            address = body["next_cursor"] and (f"/objects/contact?last_name__startswith=smi&sort={sort}&limit=3"
                                               f"&fields=last_name&after={body['next_cursor']}")
        return found

    for user in ("wang", "li", "admin"):
        with monkeypatch.context() as patch:
            patch.setattr(sorting, "startswith_ranges", lambda *args, **kwargs: None)
            usual = listed(user)
        assert listed(user) == usual
        if user != "admin":
            assert usual and all(f" {user} " in name for _, name in usual)
