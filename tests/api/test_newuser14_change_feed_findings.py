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


def _fed_copy(feed_app, api_crm, cursor, object_name):
    """What an ERP keeps reading on from `cursor`: {id: the last fields fed} of `object_name`'s records."""
    changes, _ = _read_on(feed_app, api_crm, cursor)
    copy = {}
    for change in changes:
        if change["data"]["object"] == object_name:
            copy[change["data"]["id"]] = change["data"]["fields"]
    return copy


def _contact_count(feed_app, api_crm, account_id):
    return _get(feed_app, api_crm, f"/objects/account/{account_id}")["contact_count"]


def test_every_write_path_of_children_feeds_the_parents_rollup(feed_app, api_crm, tmp_path):
    from crmkit.engine.transfer.importer import ImportService
    from crmkit.engine.transfer.merge import MergeService

    admin = api_crm.crm.as_user(api_crm.users["admin"])
    first = admin.records("account").create({"name": "Rollup Paths A"})
    second = admin.records("account").create({"name": "Rollup Paths B"})

    def check(label, cursor, accounts=(first, second)):
        copy = _fed_copy(feed_app, api_crm, cursor, "account")
        for account in accounts:
            stored = _contact_count(feed_app, api_crm, account.id)
            if account.id in copy:
                assert copy[account.id]["contact_count"] == stored, (label, account.id)
        return copy

    _, cursor = _read_on(feed_app, api_crm, None)
    contacts = admin.records("contact")
    contacts.bulk_create([{"last_name": f"Bulk {number}", "email": f"bulk{number}@example.com",
                           "account": first.id} for number in range(2)])
    copy = check("bulk create", cursor)
    assert copy[first.id]["contact_count"] == _contact_count(feed_app, api_crm, first.id) == 2

    _, cursor = _read_on(feed_app, api_crm, None)
    path = tmp_path / "contacts.csv"
    path.write_text("last_name,email,account\nImported,imported@example.com,Rollup Paths B\n", encoding="utf-8")
    report = ImportService(admin, "contact").import_file(path)
    assert report.created == 1, report
    copy = check("import", cursor)
    assert copy[second.id]["contact_count"] == 1

    moved = contacts.create({"last_name": "Mover", "email": "mover@example.com", "account": first.id})
    _, cursor = _read_on(feed_app, api_crm, None)
    contacts.update(moved.id, {"account": second.id}, version=moved.version)
    copy = check("move", cursor)
    assert copy[first.id]["contact_count"] == 2 and copy[second.id]["contact_count"] == 2

    _, cursor = _read_on(feed_app, api_crm, None)
    contacts.delete(moved.id)
    copy = check("delete", cursor)
    assert copy[second.id]["contact_count"] == 1

    _, cursor = _read_on(feed_app, api_crm, None)
    admin.recycle_bin.restore(admin.recycle_bin.batch_of("contact", moved.id))
    copy = check("restore", cursor)
    assert copy[second.id]["contact_count"] == 2

    _, cursor = _read_on(feed_app, api_crm, None)
    MergeService(admin, "account").merge(first.id, [second.id])
    copy = check("merge", cursor, (first,))
    assert copy[first.id]["contact_count"] == _contact_count(feed_app, api_crm, first.id) == 4
