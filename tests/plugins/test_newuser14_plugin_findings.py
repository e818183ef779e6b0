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


@pytest.mark.xfail(strict=True, reason=(
    "newuser14: a formula field named like the sandbox function it calls (the phone_numbers README's own "
    "`phone_country: {formula: \"phone_country(mobile)\"}`) is refused at install as 'these fields depend on "
    "each other in a circle: lead.phone_country -> lead.phone_country': the dependency scan takes the called "
    "function's name for a field reference"))
def test_the_phone_numbers_readme_example_installs_and_computes_the_country(crm_with):
    leads = crm_with(phone_plugin, README_PACKAGE).as_system().records("lead")
    assert leads.create({"mobile": "138 1234 5678"})["phone_country"] == "CN"
