"""The record endpoints: list, get, create, update with If-Match, delete, restore, related lists."""
from __future__ import annotations

import json


def test_a_created_record_is_returned_with_its_address_and_version(api):
    response = api("wang").post("/objects/account", {"name": "Created Traders", "industry": "Retail"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "Created Traders" and body["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/api/v1/objects/account/{body['id']}"
    again = api("wang").get(f"/objects/account/{body['id']}")
    assert again.status_code == 200 and again.get_json()["name"] == "Created Traders"
    assert again.headers["ETag"] == '"1"'


def test_a_list_filters_like_the_list_page_and_pages_with_a_cursor(api):
    client = api("admin")
    for number in range(5):
        client.post("/objects/account", {"name": f"Paged {number}", "industry": "Energy"})
    first = client.get("/objects/account?industry=Energy&name__startswith=Paged&sort=name&limit=2"
                       "&fields=name&count=true").get_json()
    assert [row["name"] for row in first["data"]] == ["Paged 0", "Paged 1"]
    assert set(first["data"][0]) == {"id", "version", "name"}
    assert first["count"] == {"value": 5, "exact": True, "kind": "exact"}
    second = client.get(f"/objects/account?industry=Energy&name__startswith=Paged&sort=name&limit=2&fields=name"
                        f"&after={first['next_cursor']}").get_json()
    assert [row["name"] for row in second["data"]] == ["Paged 2", "Paged 3"]
    as_json = client.get("/objects/account", query_string={
        "filter": json.dumps({"or": [{"name": "Paged 4"}, {"name": "Paged 0"}]}), "sort": "-name"}).get_json()
    assert [row["name"] for row in as_json["data"]] == ["Paged 4", "Paged 0"]
    assert as_json["next_cursor"] is None and "count" not in as_json


def test_a_rep_sees_only_their_own_records_and_others_are_not_found(api):
    mine = api("wang").post("/objects/account", {"name": "Wang Own"}).get_json()
    theirs = api("li").post("/objects/account", {"name": "Li Own"}).get_json()
    names = [row["name"] for row in api("wang").get("/objects/account?name__startswith=&limit=1000").get_json()["data"]]
    assert "Wang Own" in names and "Li Own" not in names
    hidden = api("wang").get(f"/objects/account/{theirs['id']}")
    assert hidden.status_code == 404
    assert hidden.headers["Content-Type"] == "application/problem+json"
    assert hidden.get_json()["status"] == 404
    assert api("wang").get(f"/objects/account/{mine['id']}").status_code == 200


def test_an_update_needs_the_version_read_and_a_stale_one_is_refused(api):
    client = api("wang")
    record = client.post("/objects/account", {"name": "Versioned"}).get_json()
    missing = client.patch(f"/objects/account/{record['id']}", {"industry": "Retail"})
    assert missing.status_code == 428
    saved = client.patch(f"/objects/account/{record['id']}", {"industry": "Retail"}, version=1)
    assert saved.status_code == 200 and saved.get_json()["industry"] == "Retail"
    assert saved.headers["ETag"] == '"2"'
    stale = client.patch(f"/objects/account/{record['id']}", {"industry": "Energy"}, version=1)
    assert stale.status_code == 412
    assert stale.get_json()["title"] == "Changed by someone else"


def test_field_errors_are_keyed_by_field_name(api):
    response = api("wang").post("/objects/account", {"name": ""})
    assert response.status_code == 422
    problem = response.get_json()
    assert list(problem["errors"]) == ["name"]
    assert problem["title"] == "Invalid record" and problem["detail"]


def test_a_deleted_record_can_be_restored(api):
    client = api("wang")
    record = client.post("/objects/account", {"name": "Deleted Then Restored"}).get_json()
    deleted = client.delete(f"/objects/account/{record['id']}")
    assert deleted.status_code == 200 and deleted.get_json()["deleted"] is True
    assert client.get(f"/objects/account/{record['id']}").status_code == 404
    restored = client.post(f"/objects/account/{record['id']}/restore")
    assert restored.status_code == 200
    assert restored.get_json()["restored"][0] == {"object": "account", "id": record["id"]}
    assert client.get(f"/objects/account/{record['id']}").status_code == 200
    assert client.post(f"/objects/account/{record['id']}/restore").status_code == 404


def test_a_related_list_gives_the_children_of_a_record(api):
    client = api("wang")
    account = client.post("/objects/account", {"name": "Parent Account"}).get_json()
    for name in ("Zhou", "Chen"):
        client.post("/objects/contact", {"last_name": name, "email": f"{name}@example.com", "account": account["id"]})
    related = client.get(f"/objects/account/{account['id']}/related/contact?sort=last_name&fields=last_name")
    assert related.status_code == 200
    assert [row["last_name"] for row in related.get_json()["data"]] == ["Chen", "Zhou"]
    other = api("li").get(f"/objects/account/{account['id']}/related/contact")
    assert other.status_code == 404


def test_unknown_objects_fields_and_addresses_are_problems(api):
    client = api("admin")
    assert client.get("/objects/nothing").status_code == 404
    bad_field = client.get("/objects/account?fields=nothing")
    assert bad_field.status_code == 400 and "nothing" in bad_field.get_json()["detail"]
    bad_filter = client.get("/objects/account?filter=[")
    assert bad_filter.status_code == 400
    unrouted = client.get("/no/such/address")
    assert unrouted.status_code == 404 and unrouted.headers["Content-Type"] == "application/problem+json"
    wrong_method = client.call("PUT", "/objects/account")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["status"] == 405
    not_json = client.call("POST", "/objects/account", data="name=x",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 415 and not_json.get_json()["status"] == 415


def test_a_call_without_a_valid_token_is_refused(api_app):
    client = api_app.test_client()
    missing = client.get("/api/v1/objects/account")
    assert missing.status_code == 401 and missing.headers["Content-Type"] == "application/problem+json"
    wrong = client.get("/api/v1/objects/account", headers={"Authorization": "Bearer crmkit_00000000_nothing"})
    assert wrong.status_code == 401


def test_a_count_may_be_asked_exact(api):
    body = api("admin").get("/objects/account?exact=true&limit=1").get_json()
    assert body["count"]["exact"] is True and body["count"]["kind"] == "exact"


def test_json_bodies_are_written_alike_whatever_their_keys_and_values():
    """The fast path (plain text keys) and the fallbacks (other keys, huge integers) write the same JSON."""
    import json
    from datetime import date, datetime, timezone
    from decimal import Decimal

    from sqlalchemy.sql.elements import quoted_name

    from crmkit.api.requests import json_bytes

    values = {"amount": Decimal("12.50"), "on": date(2030, 1, 2),
              "at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)}
    written = json.loads(json_bytes({"data": [values], "next_cursor": None}))
    assert written == {"data": [{"amount": "12.50", "on": "2030-01-02", "at": "2030-01-02T03:04:05+00:00"}],
                       "next_cursor": None}
    assert json.loads(json_bytes({quoted_name("name", None): "Acme", 7: "seven"})) == {"name": "Acme", "7": "seven"}
    assert json.loads(json_bytes({"big": 2 ** 70})) == {"big": 2 ** 70}


def test_listed_records_have_plain_text_keys(api_crm):
    """RecordService's pages carry str keys (not SQLAlchemy's quoted_name), which orjson writes in its fast path."""
    api_crm.crm.as_system().records("account").create({"name": "Plain Keys Ltd"})
    page = api_crm.crm.as_system().records("account").query(None, limit=2)
    assert page.records and all(type(key) is str for record in page.records for key in record.values)
