"""visible_when hides sections and fields while editing, but never a field that carries an error."""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.metadata import validate_paths
from crmkit.metadata.visibility import form_visibility
from crmkit.sandbox import BUILTIN_FUNCTIONS
from crmkit.shipped import default_crm_path


@pytest.fixture(scope="module")
def standard_crm(catalog):
    return validate_paths([default_crm_path()], catalog)


def visibility(registry, name, values, errors=()):
    return form_visibility(registry.layout(name), values, BUILTIN_FUNCTIONS, errors)


def test_a_section_is_shown_only_while_its_condition_holds(standard_crm):
    open_deal = visibility(standard_crm, "opportunity", {"stage": "Negotiation"})
    assert open_deal.hidden_sections == {"loss"} and not open_deal.shows("loss_reason")
    lost = visibility(standard_crm, "opportunity", {"stage": "Closed Lost"})
    assert lost.hidden_sections == set() and lost.shows("loss_reason")


def test_a_field_condition_applies_inside_a_visible_section(standard_crm):
    working = visibility(standard_crm, "service_case", {"status": "Working"})
    assert working.shows("resolution") and not working.shows("satisfaction")
    closed = visibility(standard_crm, "service_case", {"status": "Closed"})
    assert closed.shows("satisfaction")
    new = visibility(standard_crm, "service_case", {"status": "New"})
    assert new.hidden_fields == {"resolution", "satisfaction"} and new.hidden_sections == {"resolution"}


def test_a_field_with_an_error_is_shown_with_its_section(standard_crm):
    shown = visibility(standard_crm, "opportunity", {"stage": "Negotiation"}, errors={"loss_reason"})
    assert shown.shows("loss_reason") and shown.hidden_sections == set()


def test_a_condition_that_cannot_be_evaluated_shows_what_it_guards(catalog, write_package):
    text = """\
        package: example
        version: "1.0.0"
        objects:
          deal:
            fields:
              name: {type: text}
              amount: {type: currency}
              bonus: {type: currency}
            layouts:
              form:
                - name: main
                  fields: [name, amount, {field: bonus, visible_when: "amount > 1000"}]
        """
    registry = validate_paths([write_package(text)], catalog)
    assert not visibility(registry, "deal", {"amount": Decimal("10")}).shows("bonus")
    assert visibility(registry, "deal", {"amount": Decimal("5000")}).shows("bonus")
    assert visibility(registry, "deal", {"amount": None}).shows("bonus")  # None > 1000 fails: shown
    assert visibility(registry, "deal", {}).shows("name")
