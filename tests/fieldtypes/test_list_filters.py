"""List filters: the operators each field type offers, labelled in en and zh, as query-string controls."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Integer

from crmkit.engine.fieldtypes import FieldType
from crmkit.engine.fieldtypes.list_filters import FILTER_OPERATORS, RELATIVE_DATES
from crmkit.engine.query.dates import resolve_relative_date
from crmkit.engine.query.querystring import parse_query_string
from crmkit.metadata.catalog import FieldKind

PACKAGES = Path(__file__).resolve().parent.parent / "packages"


def project_filter(presenter_for, name, args=None, language="en"):
    presenter = presenter_for("all_types", language)
    return presenter.list_filter(presenter.registry.object("project").fields[name], args)


@pytest.mark.parametrize(("name", "params"), [
    ("name", ["name__contains", "name__is_null"]),
    ("budget", ["budget__gte", "budget__lte", "budget__is_null"]),
    ("headcount", ["headcount__gte", "headcount__lte", "headcount__is_null"]),
    ("starts_on", ["starts_on", "starts_on__gte", "starts_on__lte", "starts_on__is_null"]),
    ("kickoff", ["kickoff", "kickoff__gte", "kickoff__lte", "kickoff__is_null"]),
    ("status", ["status__in", "status__is_null"]),
    ("tags", ["tags__contains", "tags__is_null"]),
    ("company", ["company__eq", "company__is_null"]),
    ("billable", ["billable__eq"]),
    ("margin", ["margin__gte", "margin__lte", "margin__is_null"]),
])
def test_each_type_offers_its_filter_as_query_string_controls(presenter_for, name, params):
    assert [control.param for control in project_filter(presenter_for, name).controls] == params


def test_operators_and_relative_dates_are_labelled_in_english_and_chinese(presenter_for):
    assert project_filter(presenter_for, "starts_on").operators == (
        ("relative", "In the period"), ("between", "Between"), ("is_null", "Empty or not"))
    assert project_filter(presenter_for, "starts_on", language="zh").operators == (
        ("relative", "在期间内"), ("between", "介于"), ("is_null", "是否为空"))
    period = project_filter(presenter_for, "starts_on", language="zh").controls[0]
    assert [choice.label for choice in period.choices][:3] == ["全部", "今天", "昨天"]
    for label, _ in FILTER_OPERATORS.values():
        assert label.texts.keys() == {"en", "zh"}
    for _, label in RELATIVE_DATES:
        assert label.texts.keys() == {"en", "zh"}


@pytest.mark.parametrize("value", [value for value, _ in RELATIVE_DATES])
def test_every_relative_date_offered_is_one_the_query_language_reads(value):
    assert resolve_relative_date(value, date(2024, 2, 29)) is not None


def test_picklist_in_lists_offer_the_options_in_the_users_language_and_keep_the_choice(presenter_for):
    status = project_filter(presenter_for, "status", {"status__in": ["Active", "Done"]}).controls[0]
    assert status.multiple and [(c.value, c.selected) for c in status.choices] == [
        ("Planned", False), ("Active", True), ("Done", True)]


def test_given_values_are_kept_and_mark_the_filter_active(presenter_for):
    budget = project_filter(presenter_for, "budget", {"budget__gte": "1000"})
    assert [c.value for c in budget.controls] == ["1000", "", ""] and budget.active
    assert budget.controls[0].attributes == (("inputmode", "decimal"), ("step", "0.01"))
    assert [c.label for c in budget.controls[:2]] == ["From", "To"]
    assert not project_filter(presenter_for, "budget", {}).active


def test_a_lookup_filter_searches_its_object(presenter_for):
    company = project_filter(presenter_for, "company", {"company__eq": "7"}).controls[0]
    assert (company.control, company.lookup_object, [c.value for c in company.choices]) == ("lookup", "company", ["7"])


def test_a_plugin_type_may_only_offer_operators_its_values_can_be_filtered_by():
    kind = FieldKind("stars", "integer")
    column = lambda fdef, lookup, registry: Integer()  # noqa: E731
    assert FieldType(kind, column, filter_operators=("between", "eq")).list_filter_operators == ("between", "eq")
    with pytest.raises(ValueError, match="cannot be filtered with"):
        FieldType(kind, column, filter_operators=("relative",))
    with pytest.raises(ValueError, match="filter operators are"):
        FieldType(kind, column, filter_operators=("near",))


def test_the_controls_filled_in_make_a_filter_the_engine_runs(crm, presenter_for):
    """Every control of every project field, given a value, is a query the engine accepts and answers."""
    crm.install(PACKAGES / "all_types_v1.yaml")
    session = crm.as_system()
    company = session.records("company").create({"name": "Acme"})
    projects = session.records("project")
    projects.create({"name": "Apollo", "budget": Decimal("1500.00"), "status": "Active", "tags": ["Internal"],
                     "company": company.id, "starts_on": session.today(), "kickoff": datetime.now(timezone.utc),
                     "headcount": 5, "billable": True})
    presenter = presenter_for("all_types", "zh", "Asia/Shanghai")
    fills = {"text": "Apo", "number": "1000", "date": "2000-01-01"}
    for fdef in presenter.registry.object("project").fields.values():
        for control in presenter.list_filter(fdef).controls:
            if control.control == "input":
                value = fills[control.input_type]
                if control.param.endswith("__lte"):
                    value = {"number": "99999", "date": "2999-12-31"}.get(control.input_type, value)
            elif control.control == "lookup":
                value = str(company.id)
            else:
                value = next(c.value for c in control.choices if c.value)
            spec = parse_query_string({control.param: value})
            projects.count(spec.filter)  # the engine accepts it (a QueryError would fail the test)
    found = projects.query(parse_query_string({"budget__gte": "1000", "budget__lte": "2000",
                                               "starts_on": "this_year", "status__in": ["Active"],
                                               "company__eq": str(company.id), "billable__eq": "true",
                                               "tags__contains": "Internal"}).filter)
    assert [record["name"] for record in found.records] == ["Apollo"]
