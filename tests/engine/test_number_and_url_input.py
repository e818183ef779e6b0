"""What users type into number and web address fields: read in their locale, strictly, or refused."""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.engine.records.errors import RecordValidationError

PACKAGE = """
package: inputs
version: "1.0.0"
objects:
  deal:
    label: Deal
    fields:
      name: {type: text}
      amount: {type: currency}
      units: {type: integer}
      site: {type: url}
"""


@pytest.fixture(scope="module")
def shared_crm(module_database_url, tmp_path_factory):
    """The package installed once per module and database kind, for the tests that create a
    record and read back only what that call returned (nothing they check depends on other records)."""
    from crmkit.engine import Crm

    path = tmp_path_factory.mktemp("inputs") / "inputs.yaml"
    path.write_text(PACKAGE, encoding="utf-8")
    crm = Crm.open(module_database_url)
    try:
        crm.install(path)
        yield crm
    finally:
        crm.close()


@pytest.fixture
def deals(shared_crm):
    def records(language: str = "en"):
        return shared_crm.as_system(language=language).records("deal")

    return records


@pytest.fixture
def own_deals(crm, install):
    """Like `deals`, on a database of the test's own (for tests that query what they stored)."""
    install(PACKAGE)

    def records(language: str = "en"):
        return crm.as_system(language=language).records("deal")

    return records


def field_error(records, values: dict) -> str:
    with pytest.raises(RecordValidationError) as caught:
        records.create(values)
    (field, messages), = caught.value.errors.items()
    assert field in values
    return " ".join(messages)


@pytest.mark.parametrize("language, typed, stored", [
    ("en", "1,234.50", "1234.50"),
    ("en", "12.5", "12.50"),
    ("zh-CN", "1,234.50", "1234.50"),
    ("de", "12,5", "12.50"),
    ("de", "1.234,50", "1234.50"),
    ("de-DE", "-1.234.567,8", "-1234567.80"),
    ("de", "1234.50", "1234.50"),  # the plain form works in every locale (API clients)
    ("fr", "0,5", "0.50"),
    ("fr", "1 234,5", "1234.50"),  # typed with an ordinary space; French groups with a no-break space
])
def test_number_text_is_read_in_the_users_locale(deals, language, typed, stored):
    assert deals(language).create({"amount": typed})["amount"] == Decimal(stored)


@pytest.mark.parametrize("language, typed", [
    ("en", "12,5"),        # a German decimal comma is not a group separator in English
    ("en", "1.234,50"),
    ("en", "1,2345"),      # a misplaced group separator
    ("zh", "12,5"),
    ("de", "1,234.50"),
    ("de", "1.2.3"),
    ("en", "12 abc"),
])
def test_misplaced_separators_are_a_field_error_not_another_number(deals, language, typed):
    assert "Not a valid number." in field_error(deals(language), {"amount": typed})


def test_text_that_reads_as_two_numbers_is_refused_as_ambiguous(deals):
    message = field_error(deals("de"), {"amount": "1.234"})
    assert "ambiguous" in message and "1.234" in message and "1234" in message
    assert "ambiguous" in field_error(deals("de"), {"units": "1.234"})


def test_whole_numbers_read_group_separators_of_the_locale(deals):
    assert deals("en").create({"units": "1,234"})["units"] == 1234
    assert deals("de").create({"units": "1.234.567"})["units"] == 1234567
    assert "whole number" in field_error(deals("de"), {"units": "1,5"})


def test_python_numbers_are_taken_as_they_are(deals):
    records = deals("de")
    assert records.create({"amount": Decimal("12.5"), "units": 7})["amount"] == Decimal("12.50")
    assert records.create({"amount": 12.5})["amount"] == Decimal("12.50")
    assert records.create({"amount": 3})["amount"] == Decimal("3.00")


@pytest.mark.parametrize("typed, stored", [
    ("example.com", "https://example.com"),
    ("www.example.com/path?q=1", "https://www.example.com/path?q=1"),
    ("example.com:8080", "https://example.com:8080"),
    ("localhost:8080/admin", "https://localhost:8080/admin"),
    ("//example.com/a", "https://example.com/a"),
    ("  http://example.org  ", "http://example.org"),
    ("HTTPS://Example.com", "HTTPS://Example.com"),
])
def test_a_web_address_without_a_scheme_gets_https(deals, typed, stored):
    records = deals()
    created = records.create({"site": typed})
    assert created["site"] == stored
    updated = records.update(created.id, {"site": "example.net"}, version=created["version"])
    assert updated["site"] == "https://example.net"


@pytest.mark.parametrize("typed", [
    "javascript:alert(1)", "JavaScript:alert(1)", "mailto:someone@example.com", "ftp://example.com",
    "data:text/html,hello", "exa mple.com", "https://", "http:///path", "example.com:80x",
    "someone@example.com",
])
def test_what_is_not_a_web_address_is_refused(deals, typed):
    assert "Not a valid web address" in field_error(deals(), {"site": typed})


def test_bulk_creation_reads_input_the_same_way(own_deals):
    records = own_deals("de")
    records.bulk_create([{"name": "bulk", "amount": "1.234,5", "site": "example.com"}])
    created = records.query({"name": "bulk"}).records[0]
    assert (created["amount"], created["site"]) == (Decimal("1234.50"), "https://example.com")


def test_filters_read_number_text_in_the_users_locale_too(own_deals):
    own_deals("de").create({"name": "big", "amount": "1.234,50"})
    assert [r["name"] for r in own_deals("de").query({"amount": {"gte": "1.234,5"}}).records] == ["big"]
    assert [r["name"] for r in own_deals("en").query({"amount": {"gte": "1,234.5"}}).records] == ["big"]


@pytest.mark.parametrize("language, typed, stored", [("de", "1.234,50", "1234.50"), ("fr-FR", "1 234,5", "1234.50"),
                                                     ("zh-CN", "1,234.50", "1234.50")])
def test_a_user_whose_language_writes_numbers_differently_types_them_that_way(crm, install, language, typed, stored):
    from crmkit.engine.security.users import SystemDirectory

    install(PACKAGE)
    directory = SystemDirectory(crm)
    user = directory.create_user("writer", language=language)
    directory.grant("admin", user_id=user.id)
    assert user.language == language
    assert crm.as_user(user.id).records("deal").create({"amount": typed})["amount"] == Decimal(stored)
