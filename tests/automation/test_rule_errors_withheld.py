"""A rule that could not run tells a user who is not an administrator only that it could not run: its reason (the
sandbox's sentence) may quote a value of a field hidden from them. The run log keeps the reason for administrators."""
from __future__ import annotations

import pytest

from crmkit.engine import RecordValidationError
from crmkit.engine.automation.manual import run_manual
from crmkit.engine.automation.runlog import AutomationRuns
from crmkit.engine.security.users import SystemDirectory

PASSWORD = "a long passphrase 42"
SECRET = "code-name-bluebird"

DESK = """
package: desk
version: "1.0.0"
roles:
  rep: {label: {en: Rep}}
  auditor: {label: {en: Auditor}}
permission_sets:
  sales:
    roles: [rep, auditor]
    objects:
      ticket: [create, read, edit]
  secrets:
    roles: [auditor]
    fields:
      ticket.secret: [read, edit]
objects:
  ticket:
    fields:
      name: {type: text, required: true}
      priority: {type: picklist, options: [Low, High]}
      note: {type: text}
      secret: {type: text}
    automations:
      - name: checked
        on: [updated]
        discloses_protected_fields: true  # it sets note from secret (metadata/disclosure_checks.py)
        condition: "changed('priority')"
        actions:
          - {type: update_record, set: {note: "text(int(secret))"}}
      - name: escalate
        on: [manual]
        discloses_protected_fields: true  # its note tells whether secret > 1 (metadata/disclosure_checks.py)
        condition: "int(secret) > 1"
        actions:
          - {type: update_record, set: {note: "'escalated'"}}
"""


@pytest.fixture
def desk(crm, install, clock):
    install(DESK)
    directory = SystemDirectory(crm)
    rep = directory.create_user("rep", password=PASSWORD, role="rep").id
    admin = directory.create_user("ada", password=PASSWORD, permission_sets=["admin"]).id
    ticket = crm.as_system().records("ticket").create({"name": "T", "secret": SECRET, "owner_id": rep})
    return {"rep": rep, "admin": admin, "ticket": ticket}


def test_a_save_refused_by_a_rule_does_not_quote_a_hidden_value_to_the_user(crm, desk):
    tickets = crm.as_user(desk["rep"]).records("ticket")
    assert "secret" not in tickets.get(desk["ticket"].id)  # hidden from the rep
    with pytest.raises(RecordValidationError) as caught:
        tickets.update(desk["ticket"].id, {"priority": "High"}, version=desk["ticket"].version)
    (sentence,) = caught.value.errors["_record"]
    assert SECRET not in sentence
    assert sentence.startswith("the automation rule 'checked' could not run; an administrator can see why")
    (run,) = AutomationRuns(crm.as_user(desk["admin"])).runs()
    assert run.outcome == "refused" and SECRET in run.error  # the administrator still learns why


def test_a_manual_run_refused_by_its_condition_does_not_quote_a_hidden_value(crm, desk):
    outcome = run_manual(crm.as_user(desk["rep"]), "ticket", "escalate", [desk["ticket"].id])[desk["ticket"].id]
    assert outcome.outcome == "refused" and SECRET not in outcome.error
    assert "an administrator can see why" in outcome.error
    (run,) = AutomationRuns(crm.as_user(desk["admin"])).runs()
    assert SECRET in run.error


def test_an_administrator_is_told_the_reason(crm, desk):
    outcome = run_manual(crm.as_user(desk["admin"]), "ticket", "escalate", [desk["ticket"].id])[desk["ticket"].id]
    assert outcome.outcome == "refused" and SECRET in outcome.error


def test_the_withheld_sentence_reads_in_chinese(crm, desk):
    from crmkit.engine.messages import translated

    outcome = run_manual(crm.as_user(desk["rep"]), "ticket", "escalate", [desk["ticket"].id])[desk["ticket"].id]
    assert translated(outcome.error, "zh") == "自动化规则“escalate”无法运行；管理员可在自动化日志中查看原因。"
