"""Automation metadata: rules and stage transitions are frozen model objects, and every mistake is a
sentence at its file:line:column."""
from __future__ import annotations

import dataclasses
import textwrap

import pytest

from crmkit.metadata import MetadataError, validate_paths
from crmkit.metadata.automation import AutomationRule, StageTransitions
from tests.automation.conftest import DEALS


def registry(write_package, catalog, text: str, *more: str):
    paths = [write_package(text)] + [write_package(extra, f"extra{number}.yaml") for number, extra in enumerate(more)]
    return validate_paths(paths, catalog)


def problems(write_package, catalog, text: str, *more: str) -> list[str]:
    with pytest.raises(MetadataError) as caught:
        registry(write_package, catalog, text, *more)
    return [problem.format() for problem in caught.value.problems]


def test_rules_and_transitions_are_frozen_and_keep_what_was_written(write_package, catalog):
    deal = registry(write_package, catalog, DEALS).object("deal")
    won, lost_task = deal.automations
    assert isinstance(won, AutomationRule) and won.name == "won" and won.triggers == ("updated",)
    assert won.operations == {"update"} and lost_task.operations == {"delete"}
    assert [action.type for action in won.actions] == ["update_record", "update_related", "create_record"]
    assert won.actions[1].lookup == "account" and dict(won.actions[2].set) == {"subject": "'Kick-off ' + name",
                                                                              "deal": "id"}
    stage = deal.transitions["stage"]
    assert isinstance(stage, StageTransitions) and stage.initial == ("New",)
    assert stage.move("New", "Qualified") is stage.moves[0]
    assert stage.move("Qualified", "Lost").requires == ("loss_reason",)  # from "*"
    assert stage.move("New", "Won") is None
    assert stage.targets("New", ("New", "Qualified", "Won", "Lost")) == ("Qualified", "Lost")
    with pytest.raises(dataclasses.FrozenInstanceError):
        won.name = "other"
    with pytest.raises(AttributeError):
        stage.moves[0].requires.append("x")  # a tuple


def test_an_extension_adds_rules_and_the_transitions_of_another_field(write_package, catalog):
    extra = """
    package: extra
    version: "1.0.0"
    depends_on: [deals]
    extends:
      account:
        transitions:
          rating:
            moves: [{from: "*", to: "*"}]
        automations:
          - name: hot_note
            on: [saved]
            condition: "rating == 'Hot'"
            actions: [{type: update_record, set: {note: "'Call today'"}}]
    """
    account = registry(write_package, catalog, DEALS, textwrap.dedent(extra)).object("account")
    assert [rule.name for rule in account.automations] == ["hot_note"]
    assert account.automations[0].package == "extra" and set(account.transitions) == {"rating"}


def with_deal(rules: str = "", transitions: str = "") -> str:
    """DEALS with the deal object's transitions and automations replaced (YAML indented for the object)."""
    head, _, _ = DEALS.partition("    transitions:\n")
    _, _, tail = DEALS.partition("  task:\n")
    body = textwrap.indent(textwrap.dedent(transitions), "    ") + textwrap.indent(textwrap.dedent(rules), "    ")
    return head + body + "  task:\n" + tail


@pytest.mark.parametrize("rules, transitions, expected", [
    ("", """
     transitions:
       stage:
         moves: [{from: New, to: Qualifed}]
     """, "'Qualifed' is not one of the picklist's options. Did you mean 'Qualified'? (at objects.deal.transitions"
          ".stage.moves[0].to)"),
    ("", """
     transitions:
       amount:
         moves: [{from: "*", to: "*"}]
     """, "stage transitions are for a picklist field; 'amount' is a currency field of deal."),
    ("", """
     transitions:
       stage:
         initial: ["*"]
         moves: [{from: "*", to: Lost, requires: [los_reason]}]
     """, "'*' is not one of the picklist's options."),
    ("", """
     transitions:
       stage:
         moves: [{from: "*", to: Lost, requires: [los_reason]}]
     """, "'los_reason' is not a field of deal. Did you mean 'loss_reason'?"),
    ("", """
     transitions:
       stage:
         moves: [{from: "*", to: Won, condition: "amont > 0"}]
     """, "the condition uses 'amont', which is neither a field of deal nor a helper function. Did you mean 'amount'?"),
    ("", """
     transitions:
       stage:
         moves: [{from: "*", to: Won, message: Not now}]
     """, "'message' is told when the move's condition is false; this move has no condition."),
    ("", """
     transitions:
       stage:
         moves: [{from: "*"}]
     """, "is missing 'to'"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: update_record, set: {next_step: "'x'"}}]}
       - {name: a, on: [created], actions: [{type: update_record, set: {next_step: "'y'"}}]}
     """, "", "two automation rules of deal are named 'a'; rename one."),
    ("""
     automations:
       - {name: a, on: [deleted], actions: [{type: update_record, set: {next_step: "'x'"}}]}
     """, "", "an update_record action changes the record before it is saved, so a rule on deleted cannot use it"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: update_record, set: {big: "True"}}]}
     """, "", "'big' of deal is computed (formula); an action cannot set it."),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: update_record, set: {version: "2"}}]}
     """, "", "'version' is set by the platform; an action cannot set it."),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: update_related, lookup: acount, set: {rating: "'Hot'"}}]}
     """, "", "'acount' is not a lookup field of deal. Did you mean 'account'?"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: update_related, set: {rating: "'Hot'"}}]}
     """, "", "an update_related action needs 'lookup'"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: update_related, lookup: account, set: {ratin: "'Hot'"}}]}
     """, "", "'ratin' is not a field of account. Did you mean 'rating'?"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: create_record, object: task, set: {deal: id}}]}
     """, "", "a new task record needs subject (required, with no default); give it in 'set'."),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: create_record, object: tsk, set: {subject: name}}]}
     """, "", "'tsk' is not an object here. Did you mean 'task'?"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: create_record, lookup: account, object: task, set: {subject: name}}]}
     """, "", "'lookup' does not apply to a create_record action; it is for update_related."),
    ("""
     automations:
       - {name: a, on: [created], condition: "import os", actions: [{type: create_record, object: task, set: {subject: name}}]}
     """, "", "the condition does not compile"),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: create_record, object: task, set: {subject: "nam"}}]}
     """, "", "the value of 'subject' uses 'nam', which is neither a field of deal nor a helper function."),
    ("""
     automations:
       - {name: a, on: [changed], actions: [{type: create_record, object: task, set: {subject: name}}]}
     """, "", 'must be one of created, updated, saved, deleted, restored, manual, scheduled, relative, not "changed".'),
    ("""
     automations:
       - {name: a, on: [created], actions: [{type: teleport, set: {subject: name}}]}
     """, "", "'teleport' is not an automation action type. Action types are: assign_owner, call_webhook, create_record"),
])
def test_each_mistake_is_a_sentence_at_its_place(write_package, catalog, rules, transitions, expected):
    found = problems(write_package, catalog, with_deal(rules, transitions))
    assert any(expected in line for line in found), found
    assert all(line.split(":")[1].isdigit() and line.split(":")[2].isdigit() for line in found), found


def test_a_problem_points_at_the_line_and_column_of_the_mistake(write_package, catalog):
    text = with_deal(transitions="""
        transitions:
          stage:
            moves:
              - {from: New, to: Qualified}
              - {from: Qualified, to: Wn}
        """)
    found = problems(write_package, catalog, text)
    written = write_package(text)
    lines = written.read_text(encoding="utf-8").splitlines()
    line = next(number for number, content in enumerate(lines, 1) if "to: Wn" in content)
    column = lines[line - 1].index("Wn") + 1
    assert found == [f"{written}:{line}:{column}: 'Wn' is not one of the picklist's options. "
                     "Did you mean 'Won'? (at objects.deal.transitions.stage.moves[1].to)"]


def test_one_picklist_has_its_moves_declared_once_across_packages(write_package, catalog):
    extra = """
    package: extra
    version: "1.0.0"
    depends_on: [deals]
    extends:
      deal:
        transitions:
          stage:
            moves: [{from: "*", to: "*"}]
    """
    found = problems(write_package, catalog, DEALS, textwrap.dedent(extra))
    assert any("deal.stage already has stage transitions (from the package 'deals')" in line for line in found)
