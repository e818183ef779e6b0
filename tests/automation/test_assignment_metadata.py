"""assign_owner, scoring and plugin action types in metadata: frozen model objects, and every mistake a sentence
at its file:line:column; a plugin's action type is accepted, checked against its options schema, and done by the
worker through the outbox."""
from __future__ import annotations

import dataclasses

import pytest

from crmkit.engine import Crm
from crmkit.engine.extensions import Extensions
from crmkit.metadata import MetadataError, validate_paths
from crmkit.metadata.assignment import OwnerAssignment, OwnerPool, Scoring
from crmkit.plugins import make_plugin_manager
from tests.automation import stamp_plugin
from tests.automation.test_assignment import LEADS, leads_with

SCORED = LEADS.replace("    automations:\n", """      score: {type: integer}
      rating: {type: text}
    scoring:
      field: score
      rules:
        - {condition: "region == 'East'", points: 10}
    automations:
""")


def problems(write_package, catalog, text: str) -> list[str]:
    with pytest.raises(MetadataError) as caught:
        validate_paths([write_package(text)], catalog)
    return [problem.format() for problem in caught.value.problems]


def test_assignment_and_scoring_are_frozen_and_keep_what_was_written(write_package, catalog):
    lead = validate_paths([write_package(SCORED)], catalog).object("lead")
    action = lead.automations[0].actions[0]
    assert action.before_save and action.assignment == OwnerAssignment("round_robin", OwnerPool(role="sales_rep"))
    assert isinstance(lead.scoring, Scoring) and lead.scoring.field == "score"
    assert [(rule.condition, rule.points) for rule in lead.scoring.rules] == [("region == 'East'", 10)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        lead.scoring.field = "other"


@pytest.mark.parametrize("action, expected", [
    ("{type: assign_owner, strategy: round_robin, role: sales_reps}",
     "the role 'sales_reps' does not exist. Did you mean 'sales_rep'?"),
    ("{type: assign_owner, strategy: round_robin}",
     "say who may be given the record with exactly one of 'role', 'team' or 'user'."),
    ("{type: assign_owner, strategy: round_robin, role: sales_rep, team: east}",
     "exactly one of 'role', 'team' or 'user'"),
    ("{type: assign_owner, strategy: random, role: sales_rep}",
     "must be one of round_robin, least_loaded, rules, not \"random\""),
    ("{type: assign_owner, strategy: least_loaded, role: sales_rep, open: {stauts: New}}",
     "'open' names 'stauts', which is not a field of lead. Did you mean 'status'?"),
    ("{type: assign_owner, strategy: round_robin, role: sales_rep, open: {status: New}}",
     "'open' counts the load for strategy least_loaded; this action's strategy is round_robin."),
    ("{type: assign_owner, strategy: rules, rules: [{when: {regoin: East}, user: ann}]}",
     "'regoin' is not a field of lead. Did you mean 'region'?"),
    ("{type: assign_owner, strategy: rules, rules: [{when: {region: Esat}, user: ann}]}",
     "'Esat' is not one of the options of region. Did you mean 'East'?"),
    ("{type: assign_owner, strategy: rules, rules: [{when: {region: East}}]}",
     "exactly one of 'role', 'team' or 'user'"),
    ("{type: assign_owner, strategy: rules, fallback: {role: manager}, rules: [{when: {region: East}, user: a}]}",
     "the role 'manager' does not exist."),
    ("{type: assign_owner, strategy: rules, role: sales_rep}",
     "strategy rules needs 'rules'"),
    ("{type: assign_owner, role: sales_rep, set: {name: \"'x'\"}}",
     "an assign_owner action picks the owner itself; remove 'set'"),
    ("{type: update_record, role: sales_rep, set: {name: \"'x'\"}}",
     "role is for assign_owner actions; a update_record action does not use them."),
    ("{type: update_record}", "this update_record action needs 'set'"),
    ("{type: asign_owner, role: sales_rep}",
     "'asign_owner' is not an automation action type. Did you mean 'assign_owner'?"),
    ("{type: update_record, set: {name: \"'x'\"}, options: {a: 1}}",
     "'options' is for action types plugins add; update_record takes none."),
])
def test_each_assignment_mistake_is_a_sentence_at_its_place(write_package, catalog, action, expected):
    found = problems(write_package, catalog, leads_with(action))
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith(str(write_package(leads_with(action)))) for problem in found)


def test_assign_owner_on_deleted_is_refused(write_package, catalog):
    found = problems(write_package, catalog, LEADS.replace("on: [created]", "on: [deleted]"))
    assert any("an assign_owner action gives the record its owner before it is saved, so a rule on deleted "
               "cannot use it." in problem for problem in found)


def test_a_mistake_is_placed_at_its_line_and_column(write_package, catalog):
    text = leads_with("{type: assign_owner, strategy: round_robin, role: sales_reps}")
    line, column = next((number, content.index("sales_reps") + 1)
                        for number, content in enumerate(text.lstrip().splitlines(), 1) if "sales_reps" in content)
    (problem,) = problems(write_package, catalog, text)
    assert problem.split(": ", 1)[0].split(":")[-2:] == [str(line), str(column)]  # at the role's value


@pytest.mark.parametrize("scoring, expected", [
    ("{field: scroe, rules: [{condition: 'True', points: 1}]}",
     "the score field 'scroe' is not a field of lead. Did you mean 'score'?"),
    ("{field: rating, rules: [{condition: 'True', points: 1}]}",
     "the score is kept in a number field (integer or decimal) that is not computed; 'rating' is a text field."),
    ("{field: score, rules: [{condition: 'True', points: ten}]}", "'points' must be a number, not \"ten\"."),
    ("{field: score, rules: [{condition: 'True', points: 2.5}]}",
     "'score' holds whole numbers, so points must be whole; 2.5 is not."),
    ("{field: score, rules: [{condition: \"regoin == 'East'\", points: 1}]}",
     "the condition uses 'regoin', which is neither a field of lead nor a helper function. Did you mean 'region'?"),
    ("{field: score, rules: []}", "should be non-empty"),
])
def test_each_scoring_mistake_is_a_sentence_at_its_place(write_package, catalog, scoring, expected):
    text = SCORED.replace("""    scoring:
      field: score
      rules:
        - {condition: "region == 'East'", points: 10}
""", f"    scoring: {scoring}\n")
    found = problems(write_package, catalog, text)
    assert any(expected in problem for problem in found), found


@pytest.fixture
def stamping(database_url, write_package):
    """A Crm whose plugins include tests/automation/stamp_plugin.py, with a lead rule using its `stamp` action."""
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[stamp_plugin])
    crm = Crm.open(database_url, extensions=Extensions.from_plugins(manager))
    stamp_plugin.PERFORMED.clear()
    yield crm
    crm.close()


STAMPED = LEADS.replace("{type: assign_owner, strategy: round_robin, role: sales_rep}",
                        "{type: stamp, options: {field: status}, set: {text: \"'Working'\"}}").replace(
    "on: [created]", "on: [created]\n        condition: \"name != 'skip'\"")


def test_a_plugins_action_type_is_accepted_checked_and_done_through_the_outbox(stamping, write_package):
    assert "stamp" in stamping.extensions.catalog.action_kinds
    stamping.install(write_package(STAMPED))
    leads = stamping.as_system().records("lead")
    lead = leads.create({"name": "Ann's lead"})
    (row,) = stamping.outbox.rows()
    assert (row["kind"], row["payload"]) == ("stamp", {"object": "lead", "record_id": lead.id,
                                                       "options": {"field": "status"}, "values": {"text": "Working"}})
    assert stamping.outbox.work_due() == {row["id"]: "done"}
    assert leads.get(lead.id)["status"] == "Working" and len(stamp_plugin.PERFORMED) == 1
    assert stamping.outbox.work(row["id"]) == "skipped"  # done once, whatever happens to its id


def test_a_plugins_action_options_are_checked_against_its_schema(stamping, write_package):
    with pytest.raises(MetadataError) as caught:
        validate_paths([write_package(STAMPED.replace("{field: status}", "{field: status, colour: red}"))],
                       stamping.extensions.catalog)
    assert "the options of stamp: Additional properties are not allowed ('colour' was unexpected)." in str(
        caught.value)


def test_without_the_plugin_its_action_type_is_unknown(write_package, catalog):
    found = problems(write_package, catalog, STAMPED)
    assert any("'stamp' is not an automation action type." in problem for problem in found)


def test_a_plugin_cannot_replace_a_built_in_action_type():
    from crmkit.engine.automation.action_types import ActionType, collect_action_types

    with pytest.raises(ValueError, match="'update_record' is built in"):
        collect_action_types([[ActionType.of("update_record", lambda context, payload: None)]])
    twice = ActionType.of("ping", lambda context, payload: None)
    with pytest.raises(ValueError, match="two plugins define the automation action type 'ping'"):
        collect_action_types([[twice], [twice]])


def test_scoring_is_declared_once_per_object_also_through_extends(write_package, catalog):
    extra = """
    package: extra
    version: "1.0.0"
    depends_on: [leads]
    extends:
      lead:
        scoring:
          field: score
          rules: [{condition: "status == 'Working'", points: 5}]
    """
    plain = LEADS.replace("    automations:\n", "      score: {type: integer}\n    automations:\n")
    registry = validate_paths([write_package(plain), write_package(extra, "extra.yaml")], catalog)
    assert registry.object("lead").scoring.package == "extra"
    with pytest.raises(MetadataError) as caught:
        validate_paths([write_package(SCORED), write_package(extra, "extra.yaml")], catalog)
    assert "lead already has scoring (from the package 'leads'); an object's scoring is declared once." in str(
        caught.value)
