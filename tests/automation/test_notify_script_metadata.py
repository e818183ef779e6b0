"""Metadata of manual rules and of the notify and run_script actions: each mistake a sentence at its
file:line:column."""
from __future__ import annotations

import pytest

from tests.automation.test_automation_metadata import problems, registry, with_deal


def test_manual_notify_and_script_rules_are_kept_as_written(write_package, catalog):
    deal = registry(write_package, catalog, with_deal("""
     automations:
       - name: ping
         on: [manual]
         actions:
           - {type: notify, to: [owner, "role:rep"], message: "'Look at ' + name"}
           - {type: run_script, script: "result = {'next_step': 'x'}", limits: {cpu_seconds: 1}}
     """)).object("deal")
    ping = deal.automations[-1]
    assert ping.triggers == ("manual",) and ping.operations == {"manual"}
    notify, script = ping.actions
    assert notify.to == ("owner", "role:rep") and notify.message == "'Look at ' + name" and not notify.before_save
    assert script.before_save and dict(script.limits) == {"cpu_seconds": 1}


@pytest.mark.parametrize("rules, expected", [
    ("""
     automations:
       - {name: a, on: [updated], actions: [{type: notify, to: [owner]}]}
     """, "a notify action needs 'message'"),
    ("""
     automations:
       - {name: a, on: [updated], actions: [{type: notify, message: "name"}]}
     """, "a notify action needs 'to'"),
    ("""
     automations:
       - {name: a, on: [updated], actions: [{type: notify, to: ownr, message: "name"}]}
     """, "'ownr' is not a recipient: use owner, created_by, updated_by or role:<name>. Did you mean 'owner'?"),
    ("""
     automations:
       - {name: a, on: [updated], actions: [{type: notify, to: owner, message: "nam"}]}
     """, "the message uses 'nam', which is neither a field of deal nor a helper function."),
    ("""
     automations:
       - {name: a, on: [updated], actions: [{type: notify, to: owner, message: name, set: {name: "'x'"}}]}
     """, "'set' does not apply to a notify action."),
    ("""
     automations:
       - {name: a, on: [deleted], actions: [{type: run_script, script: "result = None"}]}
     """, "a run_script action changes the record before it is saved, so a rule on deleted cannot use it."),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: run_script, script: "result = ("}]}
     """, "line 1, column 10 of the script: the script could not be read: '(' was never closed"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: run_script}]}
     """, "a run_script action needs 'script'"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: update_record, script: "result = None", set: {name: "'x'"}}]}
     """, "'script' does not apply to a update_record action; it is for run_script."),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: update_record}]}
     """, "a update_record action needs 'set'"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: run_script, script: "result = None", limits: {cpu_seconds: 60}}]}
     """, "60 is greater than the maximum of 2"),
])
def test_each_mistake_is_a_sentence_at_its_place(write_package, catalog, rules, expected):
    found = problems(write_package, catalog, with_deal(rules))
    assert any(expected in line for line in found), found
    assert all(line.split(":")[1].isdigit() and line.split(":")[2].isdigit() for line in found), found
