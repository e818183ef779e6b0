"""The save pipeline refuses a dependent picklist value its controlling value does not allow (both databases)."""
from __future__ import annotations

import pytest

from crmkit.engine import RecordValidationError
from crmkit.engine.records.bulk import BulkValidationError

CATALOGUE = """\
package: catalogue
version: "1.0.0"
objects:
  product:
    title_field: name
    fields:
      name: {type: text, required: true}
      family:
        type: picklist
        label: {en: Family, zh: 产品类别}
        options:
          - {value: Hardware, label: {en: Hardware, zh: 硬件}}
          - {value: Services, label: {en: Services, zh: 服务}}
          - {value: Other, label: {en: Other, zh: 其他}}
      kind:
        type: picklist
        label: {en: Kind, zh: 种类}
        controlling_field: family
        dependent_values: {Hardware: [Server, Laptop], Services: [Consulting, Training]}
        options:
          - {value: Server, label: {en: Server, zh: 服务器}}
          - {value: Laptop, label: {en: Laptop, zh: 笔记本}}
          - {value: Consulting, label: {en: Consulting, zh: 咨询}}
          - {value: Training, label: {en: Training, zh: 培训}}
      channels:
        type: multi_picklist
        controlling_field: family
        dependent_values: {Hardware: [Shop, Web], Services: [Web]}
        options: [Shop, Web]
"""


@pytest.fixture
def products(crm, install):
    install(CATALOGUE)
    return crm.as_system().records("product")


def refused(action) -> dict[str, list[str]]:
    with pytest.raises(RecordValidationError) as caught:
        action()
    return caught.value.errors


def test_a_value_allowed_by_the_controlling_value_is_saved(products):
    server = products.create({"name": "Edge", "family": "Hardware", "kind": "Server", "channels": ["Shop", "Web"]})
    assert (server["kind"], server["channels"]) == ("Server", ["Shop", "Web"])
    assert products.create({"name": "Nothing chosen", "family": "Other"})["kind"] is None


def test_a_value_the_controlling_value_does_not_allow_is_a_field_error(products):
    errors = refused(lambda: products.create({"name": "Odd", "family": "Services", "kind": "Server"}))
    assert errors == {"kind": ["'Server' is not allowed while Family is 'Services'; allowed: Consulting, Training."]}


def test_the_error_is_in_the_users_language(crm, products):
    chinese = crm.as_system(language="zh").records("product")
    errors = refused(lambda: chinese.create({"name": "奇怪", "family": "Services", "kind": "Server"}))
    assert errors == {"kind": ["产品类别为“服务”时不能选择“服务器”；可选：咨询、培训。"]}
    errors = refused(lambda: chinese.create({"name": "其他", "family": "Other", "kind": "Server"}))
    assert errors == {"kind": ["产品类别为“其他”时此字段须留空。"]}
    errors = refused(lambda: chinese.create({"name": "未选", "kind": "Laptop"}))
    assert errors == {"kind": ["请先选择产品类别：“笔记本”只适用于其部分取值。"]}


def test_a_controlling_value_that_allows_nothing_or_an_empty_one_refuses_any_value(products):
    errors = refused(lambda: products.create({"name": "Misc", "family": "Other", "kind": "Server"}))
    assert errors == {"kind": ["no value is allowed while Family is 'Other'; leave it empty."]}
    errors = refused(lambda: products.create({"name": "Unsorted", "kind": "Laptop"}))
    assert errors == {"kind": ["choose Family first: 'Laptop' is allowed only with some values of it."]}


def test_every_value_of_a_dependent_multi_picklist_must_be_allowed(products):
    errors = refused(lambda: products.create({"name": "Advice", "family": "Services", "channels": ["Web", "Shop"]}))
    assert errors == {"channels": ["'Shop' is not allowed while Family is 'Services'; allowed: Web."]}


def test_changing_the_controlling_field_rechecks_the_stored_dependent_value(products):
    laptop = products.create({"name": "Book", "family": "Hardware", "kind": "Laptop"})
    errors = refused(lambda: products.update(laptop.id, {"family": "Services"}, version=laptop.version))
    assert errors == {"kind": ["'Laptop' is not allowed while Family is 'Services'; allowed: Consulting, Training."]}
    moved = products.update(laptop.id, {"family": "Services", "kind": "Training"}, version=laptop.version)
    assert (moved["family"], moved["kind"]) == ("Services", "Training")
    cleared = products.update(moved.id, {"family": "Other", "kind": None}, version=moved.version)
    assert cleared["kind"] is None


def test_an_update_touching_neither_field_leaves_an_older_value_alone(crm, products):
    from sqlalchemy import update

    table = crm.runtime.table("product")
    record = products.create({"name": "Legacy", "family": "Hardware", "kind": "Server"})
    with crm.engine.begin() as connection:  # stored before the dependency existed
        connection.execute(update(table).where(table.c.id == record.id).values(family="Other"))
    renamed = products.update(record.id, {"name": "Legacy 2"}, version=record.version)
    assert (renamed["family"], renamed["kind"]) == ("Other", "Server")


def test_an_invalid_option_keeps_its_own_error_only(products):
    errors = refused(lambda: products.create({"name": "Typo", "family": "Services", "kind": "Trainng"}))
    assert list(errors) == ["kind"] and len(errors["kind"]) == 1 and "allowed" not in errors["kind"][0]


def test_bulk_creates_are_checked_row_by_row(products):
    with pytest.raises(BulkValidationError) as caught:
        products.bulk_create([{"name": "Fine", "family": "Hardware", "kind": "Server"},
                              {"name": "Wrong", "family": "Hardware", "kind": "Training"}])
    assert list(caught.value.row_errors) == [2]
    assert "kind" in caught.value.row_errors[2]


def test_the_standard_crm_allows_a_loss_reason_only_on_a_lost_opportunity(crm):
    crm.install("default_crm")
    session = crm.as_system()
    account = session.records("account").create({"name": "Acme"})
    deals = session.records("opportunity")
    errors = refused(lambda: deals.create({"name": "Early", "account": account.id, "stage": "Negotiation",
                                           "loss_reason": "Price"}))
    assert errors == {"loss_reason": ["no value is allowed while Stage is 'Negotiation'; leave it empty."]}
    lost = deals.create({"name": "Gone", "account": account.id, "stage": "Closed Lost", "loss_reason": "Price"})
    errors = refused(lambda: deals.update(lost.id, {"stage": "Negotiation"}, version=lost.version))
    assert list(errors) == ["loss_reason"]
    reopened = deals.update(lost.id, {"stage": "Negotiation", "loss_reason": None}, version=lost.version)
    assert reopened["loss_reason"] is None
