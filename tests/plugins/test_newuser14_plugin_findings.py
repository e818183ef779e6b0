"""newuser14 (issue 12, outside check as a plugin developer): the shipped plugins' READMEs taken as written."""
from __future__ import annotations

import pytest

from tests.plugins.conftest import plugin_module

phone_plugin = plugin_module("phone_numbers")

# plugins/phone_numbers/README.md, "Use", as written (a package of its own around it).
README_PACKAGE = """
package: phones_readme
version: "1.0.0"
objects:
  lead:
    fields:
      name: {type: text}
      phone: {type: phone_number}                  # region from CRMKIT_PHONE_REGION, else + required
      mobile: {type: phone_number, region: CN}     # "138 1234 5678" is stored as +8613812345678
      office: {type: phone_number, region: CN, countries: [CN, HK, MO, TW]}
      phone_country: {type: formula, returns: text, formula: "phone_country(mobile)"}
"""


def test_the_phone_numbers_readme_example_installs_and_computes_the_country(crm_with):
    leads = crm_with(phone_plugin, README_PACKAGE).as_system().records("lead")
    assert leads.create({"mobile": "138 1234 5678"})["phone_country"] == "CN"


# docs/plugins.md, "crmkit_after_save(context, event)", its example as written (in a module of its own).
AFTER_SAVE_EXAMPLE = """
from crmkit.hookspecs import hookimpl

audit = []

@hookimpl
def crmkit_after_save(context, event):
    # event.current is None on delete (event.previous on create): read only what the write has.
    if event.object == "opportunity" and event.current is not None and "stage" in event.changed:
        audit.append((event.record_id, event.previous and event.previous["stage"], event.current["stage"]))
"""


DEALS = """
package: deals
version: "1.0.0"
objects:
  opportunity:
    fields:
      name: {type: text}
      stage: {type: picklist, options: [Prospecting, Qualification, Closed Won]}
"""


def test_the_after_save_example_of_the_plugin_docs_lets_a_record_be_deleted(crm_with):
    import types

    module = types.ModuleType("newuser14_after_save")
    exec(compile(AFTER_SAVE_EXAMPLE, "docs/plugins.md", "exec"), module.__dict__)
    deals = crm_with(module, DEALS).as_system().records("opportunity")
    deal = deals.create({"name": "D", "stage": "Prospecting"})
    deal = deals.update(deal.id, {"stage": "Qualification"}, version=deal.version)
    assert module.audit == [(deal.id, None, "Prospecting"), (deal.id, "Prospecting", "Qualification")]
    deals.delete(deal.id)  # the example must not stop a delete


# docs/plugins.md, "crmkit_automation_triggers()", its example as written (in a module of its own).
TRIGGER_EXAMPLE = """
from crmkit.hookspecs import hookimpl
from crmkit.engine.automation.trigger_types import TriggerType

def doubled(event):
    before, after = event.previous["amount"], event.current["amount"]
    # A cleared amount (after is None) is no doubling: compare only when both are there.
    return "amount" in event.changed and bool(before) and after is not None and after >= 2 * before

@hookimpl
def crmkit_automation_triggers():
    return [TriggerType.of("amount_doubled", doubled, operations={"update"})]
"""


def test_the_trigger_example_of_the_plugin_docs_lets_an_amount_be_cleared(crm_with):
    import types

    from tests.plugins.test_hook_surface import DOUBLING

    module = types.ModuleType("newuser14_trigger")
    exec(compile(TRIGGER_EXAMPLE, "docs/plugins.md", "exec"), module.__dict__)
    deals = crm_with(module, DOUBLING).as_system().records("deal")
    deal = deals.create({"name": "Harbour", "amount": 40})
    deal = deals.update(deal.id, {"amount": 80}, version=deal.version)
    assert deals.update(deal.id, {"amount": None}, version=deal.version)["amount"] is None


# docs/plugins.md, "Where plugins are found", its first example as written (in a module of its own).
SANDBOX_EXAMPLE = """
from decimal import Decimal

from crmkit.hookspecs import hookimpl

@hookimpl
def crmkit_sandbox_functions():
    return {"with_vat": lambda amount: (amount or 0) * Decimal("1.13")}
"""

VAT = """
package: vat
version: "1.0.0"
objects:
  deal:
    fields:
      name: {type: text}
      amount: {type: currency}
      gross: {type: formula, returns: currency, formula: "with_vat(amount)"}
"""


def test_the_first_plugin_example_of_the_docs_computes_its_formula(crm_with):
    import types
    from decimal import Decimal

    module = types.ModuleType("newuser14_with_vat")
    exec(compile(SANDBOX_EXAMPLE, "docs/plugins.md", "exec"), module.__dict__)
    deal = crm_with(module, VAT).as_system().records("deal").create({"name": "x", "amount": "100"})
    assert (deal["gross"], deal["formula_errors"]) == (Decimal("113.00"), None)


PHONES = """
package: phones_filter
version: "1.0.0"
objects:
  lead:
    fields:
      name: {type: text}
      mobile: {type: phone_number, region: CN}
"""


@pytest.mark.parametrize("typed", ["138 1234 5678", "+86 138 1234 5678", "13812345678"])
def test_an_equals_filter_finds_a_number_typed_in_another_style(crm_with, typed):
    leads = crm_with(phone_plugin, PHONES).as_system().records("lead")
    lead = leads.create({"name": "Wang", "mobile": "+86 138-1234-5678"})
    assert [record.id for record in leads.query(filter={"mobile": typed}).records] == [lead.id]


# The same kind: a name called is the function, whatever field of that name the object has (not only a formula).
SHADOWED = """
package: phones_shadowed
version: "1.0.0"
objects:
  lead:
    fields:
      name: {type: text}
      mobile: {type: phone_number, region: CN}
      phone_country: {type: text}
      country_of_mobile: {type: formula, returns: text, formula: "phone_country(mobile)"}
"""


def test_a_function_called_beside_a_field_of_its_name_is_the_function(crm_with):
    leads = crm_with(phone_plugin, SHADOWED).as_system().records("lead")
    lead = leads.create({"mobile": "138 1234 5678", "phone_country": "typed"})
    assert (lead["country_of_mobile"], lead["phone_country"], lead["formula_errors"]) == ("CN", "typed", None)


URLS = """
package: urls_filter
version: "1.0.0"
objects:
  site:
    fields:
      name: {type: text}
      website: {type: url}
"""


@pytest.mark.parametrize("typed", ["example.com/a", "https://example.com/a", " example.com/a "])
def test_an_equals_filter_on_a_web_address_reads_the_value_as_a_save_does(crm_with, typed):
    sites = crm_with(phone_plugin, URLS).as_system().records("site")
    site = sites.create({"name": "x", "website": "example.com/a"})
    assert site["website"] == "https://example.com/a"
    assert [record.id for record in sites.query(filter={"website": typed}).records] == [site.id]
    assert [record.id for record in sites.query(filter={"website": {"in": [typed]}}).records] == [site.id]
