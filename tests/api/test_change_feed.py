"""The change feed: every write path logged in its transaction, read on by cursor, filtered per record and field."""
from __future__ import annotations

import pytest

from tests.api.conftest import make_app


@pytest.fixture(scope="module")
def feed_app(api_crm):
    return make_app(api_crm.crm, CRMKIT_CHANGES_SETTLE_SECONDS=0)


def _changes(app, api_crm, user: str, since: str | None = None, limit: int | None = None):
    query = {key: value for key, value in (("since", since), ("limit", limit)) if value is not None}
    response = app.test_client().get("/api/v1/changes", query_string=query,
                                     headers={"Authorization": f"Bearer {api_crm.tokens[user]}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _latest(app, api_crm, user: str, since: str) -> list[dict]:
    return _changes(app, api_crm, user, since=since, limit=1000)["data"]


def _cursor_now(app, api_crm) -> str:
    cursor = None
    while True:
        page = _changes(app, api_crm, "admin", since=cursor, limit=1000)
        if not page["data"]:
            return page["next_cursor"]
        cursor = page["next_cursor"]


def test_creates_updates_deletes_and_restores_are_fed_in_order(feed_app, api_crm):
    start = _cursor_now(feed_app, api_crm)
    wang = api_crm.crm.as_user(api_crm.users["wang"])
    record = wang.records("account").create({"name": "Fed Traders"})
    wang.records("account").update(record.id, {"industry": "Retail"}, version=record.version)
    wang.records("account").delete(record.id)
    wang.recycle_bin.restore(wang.recycle_bin.batch_of("account", record.id))
    changes = [change for change in _latest(feed_app, api_crm, "wang", start) if change["data"]["id"] == record.id]
    assert [change["type"] for change in changes] == ["account.create", "account.update", "account.delete",
                                                      "account.restore"]
    assert changes[1]["data"]["fields"]["industry"] == "Retail"
    assert changes[0]["data"] == {"object": "account", "id": record.id, "fields": changes[0]["data"]["fields"]}


def test_a_rep_is_fed_only_the_records_they_may_see(feed_app, api_crm):
    start = _cursor_now(feed_app, api_crm)
    li = api_crm.crm.as_user(api_crm.users["li"])
    hidden = li.records("account").create({"name": "Li Only"})
    li.records("account").delete(hidden.id)
    wang_sees = {change["data"]["id"] for change in _latest(feed_app, api_crm, "wang", start)}
    li_sees = [change["type"] for change in _latest(feed_app, api_crm, "li", start)]
    admin_sees = [change["type"] for change in _latest(feed_app, api_crm, "admin", start)
                  if change["data"]["id"] == hidden.id]
    assert hidden.id not in wang_sees
    # Sharing is checked against the records as they are now: the create of a record gone since is
    # left out for a user who sees only some records; the delete is theirs, so they see it.
    assert li_sees == ["account.delete"]
    assert admin_sees == ["account.create", "account.delete"]


def test_reading_on_from_the_cursor_never_repeats_a_change(feed_app, api_crm):
    start = _cursor_now(feed_app, api_crm)
    admin = api_crm.crm.as_user(api_crm.users["admin"])
    made = [admin.records("account").create({"name": f"Cursor {number}"}).id for number in range(5)]
    first = _changes(feed_app, api_crm, "admin", since=start, limit=2)
    second = _changes(feed_app, api_crm, "admin", since=first["next_cursor"], limit=2)
    third = _changes(feed_app, api_crm, "admin", since=second["next_cursor"], limit=2)
    ids = [change["data"]["id"] for page in (first, second, third) for change in page["data"]]
    assert ids == made


def test_a_bad_cursor_or_limit_is_a_problem(feed_app, api_crm):
    client = feed_app.test_client()
    headers = {"Authorization": f"Bearer {api_crm.tokens['admin']}"}
    assert client.get("/api/v1/changes?since=abc", headers=headers).status_code == 400
    assert client.get("/api/v1/changes?limit=0", headers=headers).status_code == 400


def test_webhooks_post_the_change_feeds_payload():
    from datetime import datetime, timezone

    from crmkit.engine.records.changes import change_payload

    at = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
    assert change_payload("account", "update", 7, {"name": "Acme"}, at) == {
        "type": "account.update", "timestamp": "2026-12-02T10:00:00+00:00",
        "data": {"object": "account", "id": 7, "fields": {"name": "Acme"}}}


def test_changes_younger_than_the_settle_time_wait_for_a_later_read(api_crm):
    from datetime import timedelta

    from crmkit.engine.records.changes import ChangeFeed

    admin = api_crm.crm.as_user(api_crm.users["admin"])
    start = ChangeFeed(admin).read(None, limit=1000, settle=timedelta(0))
    while start.changes:
        start = ChangeFeed(admin).read(start.next_cursor, limit=1000, settle=timedelta(0))
    record = admin.records("account").create({"name": "Too Young"})
    waiting = ChangeFeed(admin).read(start.next_cursor, settle=timedelta(hours=1))
    assert waiting.changes == [] and waiting.next_cursor == start.next_cursor
    settled = ChangeFeed(admin).read(start.next_cursor, settle=timedelta(0))
    assert [change["data"]["id"] for change in settled.changes] == [record.id]


def test_a_bulk_create_is_fed_record_by_record(feed_app, api_crm):
    start = _cursor_now(feed_app, api_crm)
    admin = api_crm.crm.as_user(api_crm.users["admin"])
    admin.records("account").bulk_create([{"name": f"Bulk {number}"} for number in range(3)])
    fed = [change["data"]["fields"]["name"] for change in _latest(feed_app, api_crm, "admin", start)]
    assert fed == ["Bulk 0", "Bulk 1", "Bulk 2"]
