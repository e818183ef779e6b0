"""newuser14 (issue 12, outside check as an ERP integrator): syncing from the change feed (docs/api.md, "Change feed")."""
from __future__ import annotations

import pytest

from tests.api.conftest import make_app


@pytest.fixture(scope="module")
def feed_app(api_crm):
    return make_app(api_crm.crm, CRMKIT_CHANGES_SETTLE_SECONDS=0)


def _get(app, api_crm, path, **query):
    response = app.test_client().get(f"/api/v1{path}", query_string=query,
                                     headers={"Authorization": f"Bearer {api_crm.tokens['admin']}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _read_on(app, api_crm, cursor):
    changes = []
    while True:
        page = _get(app, api_crm, "/changes", **({"since": cursor} if cursor is not None else {}), limit=2)
        if not page["data"]:
            return changes, page["next_cursor"]
        changes += page["data"]
        cursor = page["next_cursor"]


@pytest.mark.xfail(strict=True, reason=(
    "newuser14: the feed's `fields` are 'the record's stored values after the write', and an ERP keeps the "
    "last ones it read; but a rollup a child's write changes (account.contact_count when a contact is "
    "created, imported or moved to it) changes the stored account with no change in the feed, so the "
    "ERP's copy keeps contact_count 0 while GET /objects/account/<id> says 1"))
def test_an_erp_copy_built_from_the_feed_matches_the_stored_record_after_a_child_is_added(feed_app, api_crm):
    _, cursor = _read_on(feed_app, api_crm, None)
    admin = api_crm.crm.as_user(api_crm.users["admin"])
    account = admin.records("account").create({"name": "Feed Rollup Co"})
    admin.records("contact").create({"last_name": "Child", "email": "child@example.com", "account": account.id})
    changes, _ = _read_on(feed_app, api_crm, cursor)
    copy = {}
    for change in changes:  # what the ERP keeps: the last fields fed for each record
        if change["data"]["object"] == "account" and change["data"]["id"] == account.id:
            copy = change["data"]["fields"]
    stored = _get(feed_app, api_crm, f"/objects/account/{account.id}")
    assert stored["contact_count"] == 1
    assert copy["contact_count"] == stored["contact_count"]
