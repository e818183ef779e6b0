"""Privacy requests, the recycle bin per user, and the security log of metadata changes."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from crmkit.engine import RecordNotFound
from crmkit.engine.security.access import PermissionDenied

PACKAGE = """
package: people
version: "1.0.0"
permission_sets:
  rep:
    objects:
      contact: [create, read, edit, delete]
      deal: [create, read, edit, delete]
  dpo:
    system: [manage_privacy]
    objects:
      contact: [read, edit, modify_all]  # an erasure is an edit
      deal: [read, view_all]
objects:
  contact:
    title_field: last_name
    track_history: true
    sharing: private
    fields:
      last_name: {type: text, required: true, personal: true}
      email: {type: email, personal: true}
      birthdate: {type: date, personal: true}
      city: {type: text}
      full_name: {type: formula, returns: text, formula: "last_name + ' (' + (city or '') + ')'"}
      deal_total: {type: rollup, from: deal.contact, aggregate: sum, field: amount}
  deal:
    sharing: private
    fields:
      name: {type: text}
      amount: {type: currency}
      contact: {type: lookup, to: contact, on_delete: set_null}
"""


@pytest.fixture
def people(crm, install):
    install(PACKAGE)
    users = crm.runtime.system_table("crmkit_user")
    grants = crm.runtime.system_table("crmkit_grant")
    now = datetime.now(timezone.utc)
    ids = {}
    with crm.engine.begin() as connection:
        for name, permission_set in [("rep", "rep"), ("other", "rep"), ("dpo", "dpo")]:
            ids[name] = connection.execute(insert(users).values(
                username=name, display_name=name, active=True, language="en", timezone="UTC",
                created_at=now, updated_at=now).returning(users.c.id)).scalar_one()
            connection.execute(insert(grants).values(permission_set=permission_set, user_id=ids[name], granted_at=now))
    return crm, ids


def test_export_gathers_the_record_its_history_and_what_points_to_it(people):
    crm, ids = people
    rep = crm.as_user(ids["rep"])
    li = rep.records("contact").create({"last_name": "Li", "email": "li@example.cn", "city": "Shanghai"})
    rep.records("contact").update(li.id, {"city": "Beijing"}, version=li.version)
    rep.records("deal").create({"name": "Renewal", "amount": 500, "contact": li.id})
    document = crm.as_user(ids["dpo"]).privacy.export("contact", li.id)
    assert document["record"]["email"] == "li@example.cn" and document["record"]["full_name"] == "Li (Beijing)"
    assert [entry["operation"] for entry in document["history"]] == ["create", "update", "update"]
    assert document["related"]["deal"][0]["name"] == "Renewal"


def test_erasure_anonymises_the_person_and_keeps_the_figures(people):
    crm, ids = people
    rep = crm.as_user(ids["rep"])
    li = rep.records("contact").create({"last_name": "Li", "email": "li@example.cn", "birthdate": "1990-05-01",
                                        "city": "Shanghai"})
    rep.records("contact").update(li.id, {"last_name": "Li Lei"}, version=li.version)
    rep.records("deal").create({"name": "Renewal", "amount": 500, "contact": li.id})
    erased = crm.as_user(ids["dpo"]).privacy.erase("contact", li.id)
    assert erased == ["birthdate", "email", "full_name", "last_name"]
    after = crm.as_system().records("contact").get(li.id)
    assert (after["last_name"], after["email"], after["birthdate"]) == ("[erased]", None, None)
    assert after["city"] == "Shanghai" and after["deal_total"] == Decimal("500.00")
    history = crm.as_system().records("contact").history(li.id)
    assert all(entry["old_value"] is None and entry["new_value"] is None for entry in history if entry["field"])


def test_privacy_requests_need_the_permission(people):
    crm, ids = people
    with pytest.raises(PermissionDenied, match="manage_privacy"):
        crm.as_user(ids["rep"]).privacy.export("contact", 1)


def test_privacy_requests_are_logged(people):
    crm, ids = people
    li = crm.as_user(ids["rep"]).records("contact").create({"last_name": "Li"})
    crm.as_user(ids["dpo"]).privacy.export("contact", li.id)
    log = crm.runtime.system_table("crmkit_security_log")
    with crm.engine.connect() as connection:
        events = [(row.event, row.detail["by"]) for row in connection.execute(select(log).order_by(log.c.id))
                  if row.detail]
    assert ("privacy.exported", ids["dpo"]) in events


def test_each_user_sees_only_their_own_deletions_in_the_bin(people):
    crm, ids = people
    rep, other = crm.as_user(ids["rep"]), crm.as_user(ids["other"])
    mine = rep.records("contact").create({"last_name": "Mine"})
    batch = rep.records("contact").delete(mine.id)
    assert [entry["record_id"] for entry in rep.recycle_bin.entries()] == [mine.id]
    assert other.recycle_bin.entries() == []
    with pytest.raises(RecordNotFound):
        other.recycle_bin.restore(batch)
    rep.recycle_bin.restore(batch)
    assert rep.records("contact").get(mine.id)["last_name"] == "Mine"


def test_installing_metadata_is_logged(crm, install):
    install(PACKAGE)
    log = crm.runtime.system_table("crmkit_security_log")
    with crm.engine.connect() as connection:
        entry = connection.execute(select(log).where(log.c.event == "metadata.installed")).one()
    assert entry.detail["packages"] == {"people": "1.0.0"}
    assert "create the table for contact" in entry.detail["steps"]
