"""The change log keeps a retention period; a cursor from before what it removed is refused (410) with the
cursor to read on from after a full sync, never answered with a page that silently skips changes."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crmkit.engine.records.changes import change_retention, prune_changes
from tests.api.conftest import make_app


@pytest.fixture(scope="module")
def feed(api_crm):
    client = make_app(api_crm.crm, CRMKIT_CHANGES_SETTLE_SECONDS=0).test_client()

    def read(since: str | None = None, user: str = "admin", lang: str = "en"):
        query = {"limit": 1000, "lang": lang, **({"since": since} if since else {})}
        return client.get("/api/v1/changes", query_string=query,
                          headers={"Authorization": f"Bearer {api_crm.tokens[user]}"})
    return read


def names(answer) -> list[str]:
    return [change["data"]["fields"].get("name") for change in answer.get_json()["data"]]


def test_a_cursor_from_before_pruned_changes_gets_410_naming_where_to_read_on(api_crm, feed):
    start = feed().get_json()["next_cursor"]
    admin = api_crm.crm.as_user(api_crm.users["admin"])
    admin.records("account").create({"name": "Pruned Traders"})
    assert "Pruned Traders" in names(feed(start))
    assert prune_changes(api_crm.crm, keep=timedelta(0)) >= 1
    admin.records("account").create({"name": "Kept Traders"})

    gone = feed(start)
    problem = gone.get_json()
    assert gone.status_code == 410 and gone.headers["Content-Type"] == "application/problem+json"
    assert "no longer kept" in problem["detail"] and "full sync" in problem["detail"]
    chinese = feed(start, lang="zh").get_json()
    assert chinese["title"] == "已不再保留" and "完整同步" in chinese["detail"] and problem["oldest_cursor"] in chinese["detail"]
    resumed = feed(problem["oldest_cursor"])
    assert resumed.status_code == 200 and names(resumed) == ["Kept Traders"]
    assert names(feed()) == ["Kept Traders"]  # a new reader starts at the oldest change kept


def test_changes_younger_than_the_retention_stay_and_the_period_comes_from_the_environment(api_crm, feed,
                                                                                         monkeypatch):
    api_crm.crm.as_user(api_crm.users["admin"]).records("account").create({"name": "Fresh Traders"})
    assert prune_changes(api_crm.crm) == 0
    assert "Fresh Traders" in names(feed())
    assert change_retention() == timedelta(days=30)
    monkeypatch.setenv("CRMKIT_CHANGE_RETENTION_DAYS", "7")
    assert change_retention() == timedelta(days=7)
    monkeypatch.setenv("CRMKIT_CHANGE_RETENTION_DAYS", "a week")
    with pytest.raises(ValueError, match="CRMKIT_CHANGE_RETENTION_DAYS must be a whole number of days"):
        change_retention()


def test_pruning_goes_in_batches_and_stops_at_the_first_young_change(api_crm, feed, monkeypatch):
    from crmkit.engine.records import changes

    monkeypatch.setattr(changes, "PRUNE_BATCH", 2)
    admin = api_crm.crm.as_user(api_crm.users["admin"])
    for number in range(5):
        admin.records("account").create({"name": f"Batch {number}"})
    assert prune_changes(api_crm.crm, keep=timedelta(0)) >= 5
    assert names(feed()) == []
