"""Which input a form shows for each field type, what it holds, and how a submitted form is read back."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.fieldtypes.widgets import Widget, submitted_value

from .conftest import MOMENT, PACKAGES, USERS, sample_value


def project_widget(presenter_for, name, row=None, language="en", zone="UTC", **kwargs):
    presenter = presenter_for("all_types", language, zone)
    return presenter.widget(presenter.registry.object("project").fields[name], row, **kwargs)


@pytest.mark.parametrize(("name", "control", "input_type", "attributes"), [
    ("name", "input", "text", {"maxlength": "80", "autocomplete": "off"}),
    ("notes", "textarea", "", {"rows": "4", "autocomplete": "off"}),
    ("headcount", "input", "number", {"step": "1", "min": "0", "max": "10000", "inputmode": "numeric",
                                        "autocomplete": "off"}),
    ("score", "input", "number", {"step": "0.001", "inputmode": "decimal", "autocomplete": "off"}),
    ("budget", "input", "number", {"step": "0.01", "inputmode": "decimal", "autocomplete": "off"}),
    ("discount", "input", "number", {"step": "0.01", "min": "0", "max": "100", "inputmode": "decimal",
                                      "autocomplete": "off"}),
    ("billable", "checkbox", "checkbox", {}),
    ("starts_on", "input", "date", {"autocomplete": "off"}),
    ("kickoff", "input", "datetime-local", {"step": "1", "autocomplete": "off"}),
    ("contact_email", "input", "email", {"maxlength": "254", "spellcheck": "false", "autocomplete": "off"}),
    ("contact_phone", "input", "tel", {"maxlength": "40", "autocomplete": "off"}),
    ("website", "input", "url", {"maxlength": "2048", "spellcheck": "false", "autocomplete": "off"}),
    ("status", "select", "", {"autocomplete": "off"}),
    ("tags", "select", "", {"autocomplete": "off"}),
    ("company", "lookup", "", {"autocomplete": "off"}),
    ("margin", "readonly", "", {}),
    ("company_name", "readonly", "", {}),
])
def test_each_field_type_gets_its_input_with_limits_from_its_metadata(presenter_for, name, control, input_type,
                                                                      attributes):
    widget = project_widget(presenter_for, name)
    assert (widget.control, widget.input_type if control != "readonly" else "") == (control, input_type)
    assert dict(widget.attributes) == attributes
    assert (widget.name, widget.id) == (name, f"field-{name}")


@pytest.mark.parametrize("package", sorted(PACKAGES))
@pytest.mark.parametrize(("language", "zone"), USERS)
def test_every_field_of_both_packages_has_a_widget_and_a_list_filter(presenter_for, registries, package, language,
                                                                      zone):
    presenter = presenter_for(package, language, zone)
    for obj in registries[package].objects.values():
        for fdef in obj.fields.values():
            field_type, value_def = presenter.value_field(fdef)
            row = {fdef.name: sample_value(field_type, value_def)}
            widget = presenter.widget(fdef, row, title="Acme")
            assert widget.label == presenter.label(fdef) and widget.label, fdef.name
            assert (widget.control == "readonly") == (not presenter.editable(fdef)), fdef.name
            if widget.control == "readonly":
                assert widget.display.kind not in ("empty", "hidden"), fdef.name
            field_filter = presenter.list_filter(fdef, {})
            assert field_filter.controls and not field_filter.active, fdef.name


def test_computed_and_system_fields_are_read_only_and_show_their_value(presenter_for):
    presenter = presenter_for("all_types", "zh")
    company = presenter.registry.object("company")
    for name in ("code", "project_count", "total_budget"):
        assert presenter.widget(company.fields[name], {name: None}).read_only
    created = presenter.widget(presenter.field(company, "created_at"), {"created_at": MOMENT})
    assert created.read_only and created.display.text == "2024年12月31日 20:30:00"
    margin = presenter.widget(presenter.registry.object("project").fields["margin"], {"margin": Decimal("0.30")})
    assert margin.display.text == "¥0.30"


def test_a_field_the_user_may_not_edit_or_read_is_not_an_input(presenter_for):
    assert project_widget(presenter_for, "budget", {"budget": Decimal("1")}, editable=False).read_only
    withheld = project_widget(presenter_for, "budget", {"name": "Apollo"})
    assert withheld.read_only and withheld.display.kind == "hidden"


def test_picklist_options_are_labelled_in_the_users_language_and_keep_a_retired_value(presenter_for):
    presenter = presenter_for("default_crm", "zh")
    fdef = next(f for f in presenter.registry.object("opportunity").fields.values()
                if f.type == "picklist" and any(o.label.texts.get("zh") for o in f.options))
    option = next(o for o in fdef.options if o.label.texts.get("zh"))
    widget = presenter.widget(fdef, {fdef.name: option.value})
    assert widget.choices[0].value == "" and not widget.choices[0].selected
    chosen = [(c.label, c.selected) for c in widget.choices if c.value == option.value]
    assert chosen == [(option.label.get("zh"), True)]
    retired = presenter.widget(fdef, {fdef.name: "Old stage"})
    assert [(c.value, c.label, c.selected) for c in retired.choices][-1] == ("Old stage", "Old stage（已停用）", True)


def test_a_lookup_holds_its_record_and_names_the_object_to_search(presenter_for):
    widget = project_widget(presenter_for, "company", {"company": 7}, title="Acme")
    assert widget.lookup_object == "company"
    assert [(c.value, c.label, c.selected) for c in widget.choices] == [("", "None", False), ("7", "Acme", True)]


@pytest.mark.parametrize(("zone", "value"), [("America/New_York", "2024-12-31T15:30:00"),
                                             ("Asia/Shanghai", "2025-01-01T04:30:00")])
def test_a_moment_is_edited_in_the_users_time_zone_and_read_back_as_the_same_moment(presenter_for, zone, value):
    widget = project_widget(presenter_for, "kickoff", {"kickoff": MOMENT}, zone=zone)
    assert (widget.value, widget.hint) == (value, f"Time zone: {zone}")
    back = submitted_value("datetime", [widget.value], Presentation.of("en", zone))
    assert back == MOMENT and back.tzinfo == ZoneInfo(zone)


def test_a_form_after_an_error_keeps_what_was_typed(presenter_for):
    row = {"budget": Decimal("5.00"), "status": "Active", "billable": True, "tags": ["Internal"], "company": 7}
    assert project_widget(presenter_for, "budget", row, typed=["12,34x"]).value == "12,34x"
    assert [c.value for c in project_widget(presenter_for, "status", row, typed=["Done"]).choices
            if c.selected] == ["Done"]
    assert project_widget(presenter_for, "billable", row, typed=[""]).checked is False
    assert [c.value for c in project_widget(presenter_for, "tags", row, typed=["", "Customer", "Research"]).choices
            if c.selected] == ["Customer", "Research"]
    assert project_widget(presenter_for, "company", row, typed=["9"], title="Beta").value == "9"


def test_a_new_record_form_holds_the_static_defaults(presenter_for):
    assert project_widget(presenter_for, "billable").checked is True
    assert [c.value for c in project_widget(presenter_for, "status").choices if c.selected] == ["Planned"]


def test_number_inputs_hold_plain_exact_digits_whatever_the_locale(presenter_for):
    for language in ("en", "zh", "de"):
        widget = project_widget(presenter_for, "budget", {"budget": Decimal("1234567.89")}, language=language)
        assert widget.value == "1234567.89"
    assert project_widget(presenter_for, "budget", language="zh").prefix == "¥"
    assert project_widget(presenter_for, "discount").suffix == "%"


def test_a_submitted_form_becomes_input_for_the_save_pipeline(presenter_for):
    presenter = presenter_for("all_types", "de", "Asia/Shanghai")
    project = presenter.registry.object("project")
    form = {"name": "Apollo", "budget": "1.234", "billable": ["", "true"], "tags": ["", "Internal"],
            "status": "Done", "kickoff": "2025-01-01T04:30", "starts_on": "2024-12-31", "company": "7",
            "margin": "99", "code": "X"}
    assert presenter.submitted(project, form) == {
        "name": "Apollo", "budget": Decimal("1.234"), "billable": True, "tags": ["Internal"], "status": "Done",
        "kickoff": datetime(2025, 1, 1, 4, 30, tzinfo=ZoneInfo("Asia/Shanghai")), "starts_on": "2024-12-31",
        "company": "7"}
    cleared = presenter.submitted(project, {"billable": [""], "tags": [""]})
    assert cleared == {"billable": False, "tags": None}


def test_a_widget_refuses_attributes_a_template_must_not_write():
    with pytest.raises(ValueError, match="'onfocus' is not an attribute"):
        Widget("x", "field-x", "X", "input", "text", attributes=(("onfocus", "alert(1)"),))
    with pytest.raises(ValueError, match="'style' is not an attribute"):
        Widget("x", "field-x", "X", "input", "text", attributes=(("style", "color: red"),))
    assert Widget("x", "field-x", "X", "input", "text", attributes=(("data-mask", "000"),)).attributes


def test_dates_are_edited_as_iso_dates(presenter_for):
    assert project_widget(presenter_for, "starts_on", {"starts_on": date(2024, 3, 5)}).value == "2024-03-05"
    assert submitted_value("date", ["2024-03-05"], Presentation()) == "2024-03-05"
    assert submitted_value("datetime", ["not a moment"], Presentation()) == "not a moment"
    assert submitted_value("datetime", ["2024-03-05T10:00:00+00:00"], Presentation.of("en", "Asia/Tokyo")) == \
        datetime(2024, 3, 5, 10, tzinfo=timezone.utc)
