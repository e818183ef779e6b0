"""An erasure scrubs the person's values wherever they were copied (security/erasure_traces.py): inside longer texts,
in other records' history, change rows and notifications, and leaves the rest of each text. SQLite and PostgreSQL."""
from __future__ import annotations

import json

from datetime import date, timedelta

import pytest

from crmkit.engine.automation.notifications import Notifications
from crmkit.engine.records.changes import ChangeFeed
from crmkit.engine.security.erasure_traces import ERASED, _scrubbed_payload, erased_texts, scrubbed
from crmkit.engine.security.privacy import Privacy
from tests.conftest import add_users

PACKAGE = """
package: erasure_traces
version: "1.0.0"
roles:
  rep: {label: Rep}
  officer: {label: Privacy officer}
permission_sets:
  sales:
    roles: [rep]
    objects:
      person: [create, read, edit]
      deal: [create, read, edit]
  privacy:
    roles: [officer]
    system: [manage_privacy]
    objects:
      person: [create, read, edit]
objects:
  person:
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true, personal: true}
      born: {type: date, personal: true}
  deal:
    title_field: code
    sharing: public_read_write
    track_history: true
    fields:
      code: {type: text}
      amount: {type: decimal}
      contact: {type: lookup, to: person}
      headline: {type: formula, returns: text, formula: "'Deal ' + code + ' for ' + (contact.name or '')"}
    automations:
      - name: told
        on: [created]
        actions:
          - {type: notify, to: owner, message: "'New ' + headline"}
"""


def test_erased_values_are_replaced_inside_texts_longest_first_and_short_ones_are_not_looked_for():
    texts = erased_texts({"name": "Wei", "full": "Wei Zhang", "initial": "W", "born": date(1990, 5, 1)},
                         ["name", "full", "initial", "born"])
    assert texts == ("1990-05-01", "Wei Zhang", "Wei")
    assert scrubbed("Call Wei Zhang (Wei) born 1990-05-01", texts) == f"Call {ERASED} ({ERASED}) born {ERASED}"
    assert scrubbed(["Wei", {"a": "Wei Zhang"}, 7], texts) == [ERASED, {"a": ERASED}, 7]
    assert scrubbed("Walter", texts) == "Walter"


def test_an_erased_name_is_replaced_as_a_word_not_cut_out_of_other_words():
    texts = erased_texts({"first": "Ann", "last": "Li", "cn": "李娜", "code": "X-7"}, ["first", "last", "cn", "code"])
    assert scrubbed("Ann Li's Annual plan for Joanna Lin in Liaoning", texts) == \
        f"{ERASED} {ERASED}'s Annual plan for Joanna Lin in Liaoning"
    assert scrubbed("李娜的订单 (Li/Ann) X-7, X-70", texts) == f"{ERASED}的订单 ({ERASED}/{ERASED}) {ERASED}, X-70"
    assert scrubbed('{"name": "Ann", "note": "Anna"}', texts) == '{"name": "' + ERASED + '", "note": "Anna"}'
    assert scrubbed(json.dumps({"note": "李娜abc"}), texts) == '{"note": "' + ERASED + 'abc"}'  # ASCII escapes


def test_an_outbox_payload_keeps_what_the_rule_says_and_loses_the_erased_values():
    payload = {"object": "person", "url": "https://hooks.lina.example/in", "secret_env": "LINA_SECRET",
               "template": "lina_welcome", "to": ["owner", "email"], "fields": {"name": "Lina", "note": "Lina called"}}
    assert _scrubbed_payload(payload, ("Lina", "Li")) == {**payload, "fields": {"name": ERASED,
                                                                                 "note": f"{ERASED} called"}}


@pytest.fixture
def erased(crm, write_package, install_once):
    """A deal whose formula quoted Wei Zhang, then Li Na; Wei Zhang erased."""
    install_once(write_package(PACKAGE))
    users = add_users(crm, [("ann", "rep", ["sales"]), ("officer", "officer", ["privacy"])])
    ann = crm.as_user(users["ann"])
    wei = ann.records("person").create({"name": "Wei Zhang", "born": date(1990, 5, 1)})
    li = ann.records("person").create({"name": "Li Na"})
    deal = ann.records("deal").create({"code": "D-7", "amount": 100, "contact": wei.id})
    crm.outbox.work_due()
    deal = ann.records("deal").update(deal.id, {"contact": li.id, "amount": 120}, version=deal.version)
    Privacy(crm.as_user(users["officer"])).erase("person", wei.id)
    return ann, deal


def test_a_formula_that_quoted_the_person_keeps_its_history_with_the_name_replaced(erased):
    ann, deal = erased
    values = [(entry["field"], entry["old_value"], entry["new_value"]) for entry in ann.records("deal").history(deal.id)
              if entry["field"] in ("headline", "amount")]
    assert ("headline", f"Deal D-7 for {ERASED}", "Deal D-7 for Li Na") in values  # Li Na is not erased
    assert not any("Wei Zhang" in str(value) for entry in values for value in entry)
    assert ann.records("deal").get(deal.id)["headline"] == "Deal D-7 for Li Na"


def test_the_change_feed_and_notifications_about_the_deal_no_longer_quote_the_person(erased):
    ann, deal = erased
    feed = ChangeFeed(ann).read(None, limit=1000, settle=timedelta(0)).changes
    fields = [change["data"]["fields"] for change in feed if change["data"]["object"] == "deal"]
    assert fields and not any("Wei Zhang" in str(value) for each in fields for value in each.values())
    assert [note.message for note in Notifications(ann).list()] == [f"New Deal D-7 for {ERASED}"]
    people = [change["data"]["fields"] for change in feed if change["data"]["object"] == "person"]
    assert not any("Wei Zhang" in str(each) or "1990-05-01" in str(each) for each in people)
