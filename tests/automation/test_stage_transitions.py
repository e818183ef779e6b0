"""Stage transitions are refused in the engine, so every write path (update, create, bulk edit, import,
before-save automation, a plugin's before-save hook) is refused alike, in the user's language."""
from __future__ import annotations

import pytest

from crmkit.engine import RecordValidationError
from crmkit.engine.records.bulk import BulkValidationError
from tests.automation.conftest import DEALS


def refused(call) -> dict[str, list[str]]:
    with pytest.raises(RecordValidationError) as caught:
        call()
    return caught.value.errors


@pytest.fixture
def deals(sales):
    return sales.records("deal")


def test_a_move_no_transition_lists_is_refused_naming_where_it_can_go(deals):
    deal = deals.create({"name": "D"})
    assert refused(lambda: deals.update(deal.id, {"stage": "Won"}, version=deal.version)) == {
        "stage": ["cannot move from 'New' to 'Won'; from 'New' it can move to: Qualified, Lost."]}
    assert deals.get(deal.id)["stage"] == "New"
    moved = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    assert moved["stage"] == "Qualified"
    kept = deals.update(moved.id, {"stage": "Qualified", "amount": "10"}, version=moved.version)
    assert kept["amount"] is not None  # keeping the value is no move


def test_a_value_no_move_leaves_is_final(deals):
    deal = deals.create({"name": "D"})
    deal = deals.update(deal.id, {"stage": "Lost", "loss_reason": "Budget"}, version=deal.version)
    reopened = deals.update(deal.id, {"stage": "New"}, version=deal.version)
    assert reopened["stage"] == "New"


def test_a_new_record_starts_at_an_initial_value(deals):
    assert refused(lambda: deals.create({"name": "D", "stage": "Won", "next_step": "Ship"})) == {
        "stage": ["a new record cannot start at 'Won'; it starts at: New."]}
    assert deals.create({"name": "D", "stage": "New"})["stage"] == "New"


def test_a_move_requires_its_fields_and_its_condition(deals):
    deal = deals.create({"name": "D"})
    assert refused(lambda: deals.update(deal.id, {"stage": "Lost"}, version=deal.version)) == {
        "loss_reason": ["is required when Stage moves to 'Lost'."]}
    qualified = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    errors = refused(lambda: deals.update(qualified.id, {"stage": "Won", "amount": "0"}, version=qualified.version))
    assert errors["stage"] == ["A won deal needs an amount."]  # the move's own message
    won = deals.update(qualified.id, {"stage": "Won", "amount": "10"}, version=qualified.version)
    assert won["stage"] == "Won"
    assert refused(lambda: deals.update(won.id, {"stage": "New"}, version=won.version)) == {
        "stage": ["cannot move from 'Won' to 'New'; from 'Won' it can move to: Lost."]}


def test_refusals_are_in_the_users_language(crm, deals):
    deal = deals.create({"name": "D"})
    chinese = crm.as_system(language="zh").records("deal")
    assert refused(lambda: chinese.update(deal.id, {"stage": "Won"}, version=deal.version)) == {
        "stage": ["不能从“New”改为“Won”；从“New”只能改为：Qualified、Lost。"]}
    assert refused(lambda: chinese.update(deal.id, {"stage": "Lost"}, version=deal.version)) == {
        "loss_reason": ["Stage改为“Lost”时此字段为必填项。"]}
    qualified = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    assert refused(lambda: chinese.update(qualified.id, {"stage": "Won"}, version=qualified.version)) == {
        "stage": ["赢单需要金额。"]}


def test_english_refusals_are_translated_by_the_catalog():
    from crmkit.engine.messages import translated

    assert translated("cannot change once it is 'Won'.", "zh") == "为“Won”后不能再修改。"
    assert translated("is required when Stage moves to 'Lost'.", "zh-CN") == "Stage改为“Lost”时此字段为必填项。"


def test_bulk_edit_refuses_each_record_whose_move_is_not_allowed(deals):
    new = deals.create({"name": "Still new"})
    qualified = deals.create({"name": "Qualified one"})
    qualified = deals.update(qualified.id, {"stage": "Qualified"}, version=qualified.version)
    result = deals.update_many({new.id: new.version, qualified.id: qualified.version}, {"stage": "Won", "amount": "5"})
    assert result.succeeded == (qualified.id,)
    (failure,) = result.failed
    assert failure.id == new.id and failure.status == 422 and "cannot move from 'New' to 'Won'" in failure.message
    assert deals.get(new.id)["stage"] == "New"


def test_an_import_refuses_rows_that_start_at_a_value_initial_does_not_allow(deals):
    with pytest.raises(BulkValidationError) as caught:
        deals.bulk_create([{"name": "ok"}, {"name": "won already", "stage": "Won", "next_step": "Ship"}])
    assert caught.value.row_errors == {2: {"stage": ["a new record cannot start at 'Won'; it starts at: New."]}}
    assert deals.count().value == 0


def test_a_before_save_hook_that_sets_a_refused_stage_is_refused_too(crm, deals):
    class Jump:
        from crmkit.hookspecs import hookimpl

        @hookimpl
        def crmkit_before_save(self, context, draft):
            if draft.object == "deal" and draft.previous is not None:
                draft.set("stage", "Won")

    crm.extensions.plugin_manager.register(Jump(), name="jump")
    try:
        deal = deals.create({"name": "D"})
        assert "cannot move from 'New' to 'Won'" in refused(
            lambda: deals.update(deal.id, {"amount": "3"}, version=deal.version))["stage"][0]
    finally:
        crm.extensions.plugin_manager.unregister(name="jump")


def test_a_record_from_before_the_transitions_with_a_blank_stage_may_take_an_initial_value(crm, install, deals):
    deal = deals.create({"name": "D"})
    with crm.engine.begin() as connection:  # as a record written before `stage` had transitions
        connection.exec_driver_sql(f"UPDATE deal SET stage = NULL WHERE id = {deal.id}")
    blank = deals.get(deal.id)
    assert refused(lambda: deals.update(deal.id, {"stage": "Won"}, version=blank.version))["stage"] == [
        "a new record cannot start at 'Won'; it starts at: New."]
    assert deals.update(deal.id, {"stage": "New"}, version=blank.version)["stage"] == "New"


def test_a_condition_that_cannot_be_checked_refuses_the_move(crm, write_package, sales):
    broken = DEALS.replace('condition: "amount is not None and amount > 0"', 'condition: "1 / (amount - amount) > 0"')
    crm.install(write_package(broken))
    deals = sales.records("deal")
    deal = deals.create({"name": "D", "amount": "4"})
    deal = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    errors = refused(lambda: deals.update(deal.id, {"stage": "Won"}, version=deal.version))
    assert errors["_record"][0].startswith("the condition of the move of Stage to 'Won' could not be checked:")


def test_allowed_targets_name_the_values_a_record_may_move_to(sales):
    from crmkit.engine.automation.transitions import allowed_targets

    deal = sales.runtime.object("deal")
    assert allowed_targets(deal, "stage", None) == ("New",)  # a new record: `initial`
    assert allowed_targets(deal, "stage", "New") == ("New", "Qualified", "Lost")
    assert allowed_targets(deal, "stage", "Lost") == ("Lost", "New")
    assert allowed_targets(deal, "name", "x") is None  # no transitions: any value


def test_a_move_requiring_a_field_the_user_may_not_read_names_neither_the_field_nor_its_value(crm, install, sales):
    from tests.conftest import add_users

    install("""
    package: deal_security
    version: "1.0.0"
    depends_on: [deals]
    permission_sets:
      rep:
        objects: {deal: [create, read, edit]}
      manager:
        fields: {deal.loss_reason: [read, edit]}
    """, "deal_security.yaml")
    rep = crm.as_user(add_users(crm, [("rep", None, ["rep"])])["rep"]).records("deal")
    deal = rep.create({"name": "D"})
    assert "loss_reason" not in deal
    errors = refused(lambda: rep.update(deal.id, {"stage": "Lost"}, version=deal.version))
    assert list(errors) == ["_record"]  # the record-level sentence of security/shaping.py
    assert "loss_reason" not in str(errors) and "Loss reason" not in str(errors) and "Lost" not in str(errors)
    assert refused(lambda: rep.update(deal.id, {"stage": "Won"}, version=deal.version)) == {
        "stage": ["cannot move from 'New' to 'Won'; from 'New' it can move to: Qualified, Lost."]}


def test_a_forms_picklist_offers_a_new_record_only_its_initial_values_and_a_stored_one_its_moves(sales):
    from crmkit.engine.fieldtypes.presenter import FieldPresenter
    from crmkit.ui.record_views import stage_choices

    deal = sales.runtime.object("deal")
    presenter = FieldPresenter.for_context(sales)

    def offered(row, typed=None):
        widget = presenter.widget(deal.fields["stage"], row, typed=typed)
        return [choice.value for choice in stage_choices(widget, deal, deal.fields["stage"], row).choices]

    assert offered(None) == ["", "New"]  # a new record: `initial` (blank: clearing is not a move)
    assert offered({"stage": "Qualified"}) == ["", "Qualified", "Won", "Lost"]  # Won's condition: the engine's
    assert offered({"stage": "Won"}) == ["", "Won", "Lost"]
    assert offered({"stage": None}) == ["", "New"]  # a record older than the transitions starts like a new one
    assert offered({"stage": "New"}, typed=["Won"]) == ["", "New", "Qualified", "Won", "Lost"]  # the value typed stays
    name = presenter.widget(deal.fields["name"], None)
    assert stage_choices(name, deal, deal.fields["name"], None) is name  # no transitions: left alone


def test_a_save_refused_before_its_rules_run_also_says_the_move_is_not_allowed(sales):
    deals = sales.records("deal")
    deal = deals.create({"name": "D"})
    errors = refused(lambda: deals.update(deal.id, {"name": "", "stage": "Won"}, version=deal.version))
    assert errors == {"name": ["is required."],
                      "stage": ["cannot move from 'New' to 'Won'; from 'New' it can move to: Qualified, Lost."]}
    errors = refused(lambda: deals.create({"name": "", "stage": "Won"}))
    assert errors["stage"] == ["a new record cannot start at 'Won'; it starts at: New."]
    errors = refused(lambda: deals.update(deal.id, {"name": "", "stage": "Qualified"}, version=deal.version))
    assert errors == {"name": ["is required."]}  # a listed move: its condition waits for the rules


MOVES_WITH_ACTIONS = """
package: tickets
version: "1.0.0"
objects:
  ticket:
    title_field: name
    fields:
      name: {type: text, required: true}
      status: {type: picklist, options: [Open, Pending, Closed], default: Open}
      closed_note: {type: text}
    transitions:
      status:
        moves:
          - from: Open
            to: Closed
            actions: [{type: update_record, set: {closed_note: "'closed at once'"}}]
          - from: "*"
            to: Closed
            actions:
              - {type: update_record, set: {closed_note: "'closed after waiting'"}}
              - {type: create_record, object: audit, set: {what: "'closed ' + name"}}
          - {from: "*", to: "*"}
  audit:
    fields:
      what: {type: text, required: true}
"""


def test_a_moves_actions_run_when_the_record_makes_that_move_and_only_then(crm, install, clock):
    install(MOVES_WITH_ACTIONS)
    tickets = crm.as_system().records("ticket")
    direct = tickets.create({"name": "T1"})
    direct = tickets.update(direct.id, {"status": "Closed"}, version=direct.version)
    assert direct["closed_note"] == "closed at once"  # the first move listing Open -> Closed decides
    waited = tickets.create({"name": "T2"})
    waited = tickets.update(waited.id, {"status": "Pending"}, version=waited.version)
    assert waited["closed_note"] is None  # a move without actions does nothing
    waited = tickets.update(waited.id, {"status": "Closed", "name": "T2b"}, version=waited.version)
    assert waited["closed_note"] == "closed after waiting"
    kept = tickets.update(waited.id, {"name": "T2c"}, version=waited.version)  # no move: nothing runs again
    assert list(crm.outbox.work_due().values()) == ["done"]
    assert [row["what"] for row in crm.as_system().records("audit").query().records] == ["closed T2b"]
    assert kept["closed_note"] == "closed after waiting"
    assert {row["rule"] for row in crm.outbox.rows()} == {"ticket.status_move_2"}


def test_a_moves_actions_are_checked_where_they_are_written(crm, write_package):
    from crmkit.metadata import MetadataError

    path = write_package(MOVES_WITH_ACTIONS.replace("{closed_note:", "{closing:", 1))  # the first move's action
    with pytest.raises(MetadataError) as caught:
        crm.install(path)
    problems = [line for line in str(caught.value).splitlines() if "closing" in line]
    assert problems and problems[0].startswith(f"{path}:15:51: 'closing' is not a field of ticket."), problems
