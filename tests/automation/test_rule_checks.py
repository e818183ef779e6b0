"""The rules a save evaluates are prepared once per object (conditions compiled, `changed()` guards found) and
prepared again when the metadata changes; a rule whose condition starts with `changed('field')` is passed over
without running the sandbox when that field did not change."""
from __future__ import annotations

import pytest

from crmkit.engine.automation.rules import changed_guard
from crmkit.sandbox.expression import CompiledExpression
from tests.automation.conftest import DEALS, won_deal


@pytest.mark.parametrize(("condition", "field"), [
    ("changed('stage') and stage == 'Won'", "stage"),
    ("changed(\"stage\")", "stage"),
    ("changed('stage') and changed('amount')", "stage"),
    ("stage == 'Won' and changed('stage')", None),  # the first operand runs first, and may fail: evaluated
    ("changed('stage') or amount > 5", None),
    ("not changed('stage')", None),
    ("changed(stage)", None),
    ("changed('stage', 1)", None),
    ("", None),
    (None, None),
])
def test_a_guard_is_the_field_of_a_leading_changed_call_in_an_and(condition, field):
    assert changed_guard(condition) == field


@pytest.fixture
def evaluated(monkeypatch) -> list[str]:
    """The sources of the expressions evaluated from now on (CompiledExpression.evaluate), in order."""
    sources: list[str] = []
    evaluate = CompiledExpression.evaluate

    def counted(self, variables, functions=None):
        sources.append(self.source)
        return evaluate(self, variables, functions)

    monkeypatch.setattr(CompiledExpression, "evaluate", counted)
    return sources


WON = "changed('stage') and stage == 'Won'"


def test_an_update_not_changing_the_guarded_field_evaluates_no_condition(sales, evaluated):
    deals = sales.records("deal")
    deal = deals.create({"name": "D", "amount": "5"})
    deal = deals.update(deal.id, {"amount": "6"}, version=deal.version)
    assert WON not in evaluated and deal["next_step"] is None
    deal = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    assert evaluated.count(WON) == 2  # the stage changed: evaluated before the write and after it, and false


def test_a_guarded_rule_still_fires_when_its_field_changes(sales, crm):
    _, won = won_deal(sales)
    assert won["next_step"] == "Hand over"
    assert [row["kind"] for row in sorted(crm.outbox.rows(), key=lambda row: row["id"])] == [
        "update_related", "create_record"]


def test_changed_rules_are_evaluated_again_after_an_upgrade(crm, write_package, sales):
    deals = sales.records("deal")
    deal = deals.create({"name": "D", "amount": "5"})
    deal = deals.update(deal.id, {"amount": "6"}, version=deal.version)  # the rules are prepared for updates
    crm.install(write_package(DEALS.replace("version: \"1.0.0\"", "version: \"1.0.1\"").replace(
        "condition: \"changed('stage') and stage == 'Won'\"", "condition: \"changed('amount') and amount > 6\"")))
    deal = deals.update(deal.id, {"amount": "7"}, version=deal.version)
    assert deal["next_step"] == "Hand over"  # the new condition, not the old guard on the stage
    crm.install(write_package(DEALS.replace("version: \"1.0.0\"", "version: \"1.0.2\"").replace(
        "condition: \"changed('stage') and stage == 'Won'\"", "condition: \"amount > 7\"")))
    deal = deals.update(deal.id, {"next_step": None, "amount": "8"}, version=deal.version)
    assert deal["next_step"] == "Hand over"  # no guard left: the condition alone decides
