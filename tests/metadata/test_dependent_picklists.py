"""A dependent picklist names a controlling picklist and, per controlling value, the options allowed."""
from __future__ import annotations

import pytest

from crmkit.metadata import validate_paths

from .test_validation import problems_of

PRODUCTS = """\
package: catalogue
version: "1.0.0"
objects:
  product:
    title_field: name
    fields:
      name: {{type: text}}
      family: {{type: picklist, options: [Hardware, Services]{family}}}
      size: {{type: integer}}
{field}
"""


def package(field: str, family: str = "") -> str:
    return PRODUCTS.format(field=field, family=family)


@pytest.mark.parametrize(("field", "where", "message"), [
    ("      kind: {type: picklist, options: [Server, Audit], controlling_field: family}\n", "10:75",
     "a dependent picklist needs 'dependent_values': for each value of 'family', the options of kind allowed with it."),
    ("      kind: {type: picklist, options: [Server], dependent_values: {Hardware: [Server]}}\n", "10:67",
     "'dependent_values' needs 'controlling_field': the picklist whose value decides which of kind's options "
     "are allowed."),
    ("      kind: {type: picklist, options: [Server], controlling_field: famly, dependent_values: {Hardware: [Server]}}\n",
     "10:68", "controlling_field names 'famly', which is not a field of product. Did you mean 'family'?"),
    ("      kind: {type: picklist, options: [Server], controlling_field: kind, dependent_values: {Server: [Server]}}\n",
     "10:68", "kind cannot control itself; name another picklist of product."),
    ("      kind: {type: picklist, options: [Server], controlling_field: size, dependent_values: {'1': [Server]}}\n",
     "10:68", "'size' is a integer field; a controlling field must be a picklist (one value at a time)."),
    ("      kind: {type: picklist, options: [Server], controlling_field: family, dependent_values: {Hardwre: [Server]}}\n",
     "10:104", "'Hardwre' is not an option of family. Did you mean 'Hardware'?"),
    ("      kind: {type: picklist, options: [Server], controlling_field: family, dependent_values: {Hardware: [Servr]}}\n",
     "10:106", "'Servr' is not an option of kind. Did you mean 'Server'?"),
    ("      kind: {type: picklist, options: [Server, Audit], default: Audit, controlling_field: family, "
     "dependent_values: {Hardware: [Server]}}\n", "10:65",
     "the default 'Audit' is not allowed while family is empty (its default), so every new record would be "
     "refused; list it under dependent_values or remove the default."),
    ("      kind: {type: text, controlling_field: family}\n", "10:26",
     "'controlling_field' does not apply to a text field; it is for multi_picklist, picklist fields."),
])
def test_each_dependent_picklist_problem_is_placed_and_explained(write_package, catalog, field, where, message):
    found = problems_of(write_package, catalog, package(field))
    assert len(found) == 1, found
    assert f"package.yaml:{where}: {message}" in found[0], found


def test_picklists_cannot_control_each_other_in_a_circle(write_package, catalog):
    fields = ("      kind: {type: picklist, options: [Server], controlling_field: grade, dependent_values: {A: [Server]}}\n"
              "      grade: {type: picklist, options: [A], controlling_field: kind, dependent_values: {Server: [A]}}\n")
    found = problems_of(write_package, catalog, package(fields))
    assert len(found) == 2, found
    assert "these picklists control each other in a circle: kind -> grade -> kind" in found[0]
    assert "these picklists control each other in a circle: grade -> kind -> grade" in found[1]


def test_a_valid_dependency_is_in_the_model(write_package, catalog):
    field = ("      kind:\n        type: multi_picklist\n        options: [Server, Laptop, Audit, Training]\n"
             "        controlling_field: family\n        dependent_values:\n"
             "          Hardware: [Laptop, Server]\n          Services: [Audit]\n")
    registry = validate_paths([write_package(package(field, family=", default: Hardware"))], catalog)
    kind = registry.object("product").fields["kind"]
    assert kind.controlling_field == "family"
    assert kind.allowed_values("Hardware") == ("Server", "Laptop")  # in option order
    assert kind.allowed_values("Services") == ("Audit",)
    assert kind.allowed_values(None) == ()
    assert registry.object("product").fields["family"].allowed_values(None) == ("Hardware", "Services")


def test_the_standard_crm_loss_reason_depends_on_the_stage(catalog):
    from crmkit.shipped import default_crm_path

    registry = validate_paths([default_crm_path()], catalog)
    reason = registry.object("opportunity").fields["loss_reason"]
    assert reason.controlling_field == "stage"
    assert reason.allowed_values("Closed Lost") == reason.option_values
    assert reason.allowed_values("Negotiation") == ()
