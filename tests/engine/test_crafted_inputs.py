"""Crafted inputs at the engine's edges get a clear CrmkitError, the same on SQLite and PostgreSQL.

Ids, offsets, cursors and counts beyond 64 bits, text no database can compare (NUL, lone
surrogates), over-long searches, the largest filter the documentation allows, user ids
of the wrong type and unknown object names (docs/query.md, "Limits").
"""
from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from crmkit.engine import RecordNotFound
from crmkit.engine.query import QueryError
from crmkit.engine.query.filters import MAX_CONDITIONS, MAX_VALUES
from crmkit.engine.query.inputs import MAX_COUNT_CAP, MAX_SEARCH_LENGTH
from crmkit.engine.security.access import UnknownUser
from crmkit.errors import CrmkitError

PACKAGE = """
    package: crafted
    version: "1.0.0"
    objects:
      account:
        title_field: name
        fields:
          name: {type: text, searchable: true}
          size: {type: integer}
          revenue: {type: currency}
          founded: {type: date}
          tags: {type: multi_picklist, options: [a, b]}
"""

TOO_LARGE = [2**63, -(2**63) - 1, 10**30]
NOT_IDS = ["1", True, 1.0, None, [1]]
UNSEARCHABLE = ["a\x00b", "\x00", "a\ud800", "\udfff"]


@pytest.fixture(scope="module")
def shared_crm(module_database_url, tmp_path_factory):
    """The package and three accounts, made once per module and database kind: every test here
    only reads them or is refused before anything is written."""
    import textwrap

    from crmkit.engine import Crm

    path = tmp_path_factory.mktemp("crafted") / "crafted.yaml"
    path.write_text(textwrap.dedent(PACKAGE).lstrip(), encoding="utf-8")
    crm = Crm.open(module_database_url)
    try:
        crm.install(path)
        records = crm.as_system().records("account")
        for index, (name, revenue) in enumerate([("Acme", "1.50"), ("Beta", "2.25"), ("Gamma", "3.00")]):
            records.create({"name": name, "size": index + 1, "revenue": revenue, "founded": f"2020-01-0{index + 1}"})
        yield crm
    finally:
        crm.close()


@pytest.fixture
def crm(shared_crm):
    """This module's tests work on the shared database (shared_crm), not on one of their own."""
    return shared_crm


@pytest.fixture
def accounts(shared_crm):
    yield shared_crm.as_system().records("account")
    # Refused operations write nothing: the next test finds the same three accounts.
    assert {record["name"] for record in shared_crm.as_system().records("account").query().records} == \
        {"Acme", "Beta", "Gamma"}


def names(page) -> set[str]:
    return {record["name"] for record in page.records}


def cursor(sort: list[str], values: list) -> str:
    payload = json.dumps({"s": sort, "v": values}).encode()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


@pytest.mark.parametrize("record_id", TOO_LARGE + NOT_IDS)
def test_an_id_no_record_can_have_is_not_found(accounts, record_id):
    for operation in (lambda: accounts.get(record_id), lambda: accounts.history(record_id),
                      lambda: accounts.update(record_id, {"name": "x"}, version=1),
                      lambda: accounts.delete(record_id)):
        with pytest.raises(RecordNotFound):
            operation()


@pytest.mark.parametrize("number", TOO_LARGE)
def test_numbers_beyond_64_bits_in_filters_offsets_cursors_and_counts_are_query_errors(accounts, number):
    for operation in (lambda: accounts.query({"id": number}), lambda: accounts.query({"size": {"in": [1, number]}}),
                      lambda: accounts.query(offset=number), lambda: accounts.count(cap=number),
                      lambda: accounts.query(sort=["size"], after=cursor(["size", "id"], [1, number])),
                      lambda: accounts.query(sort=["size"], after=cursor(["size", "id"], [number, 1]))):
        with pytest.raises(QueryError):
            operation()


@pytest.mark.parametrize("value", ["1e999999999", "-1e999999999", "1e40", "9" * 200, "NaN", "Infinity"])
def test_a_decimal_cursor_value_no_number_column_holds_is_a_damaged_cursor(accounts, value):
    with pytest.raises(QueryError, match="cursor"):
        accounts.query(sort=["revenue"], after=cursor(["revenue", "id"], [value, 1]))


@pytest.mark.parametrize("cap", [-1, 0, True, 1.5, "10", MAX_COUNT_CAP + 1])
def test_a_count_cap_must_be_a_whole_number_in_range(accounts, cap):
    with pytest.raises(QueryError, match="'cap' must be a whole number"):
        accounts.count(cap=cap)
    assert accounts.count(cap=MAX_COUNT_CAP).value == 3 and accounts.count(cap=1).kind in ("at_least", "estimate")


@pytest.mark.parametrize("user_id", TOO_LARGE + NOT_IDS)
def test_a_user_id_must_be_a_whole_number(crm, accounts, user_id):
    from crmkit.engine.security.users import SystemDirectory, UserError

    with pytest.raises(UnknownUser):
        crm.as_user(user_id)
    directory = SystemDirectory(crm)
    for operation in (lambda: directory.get(user_id), lambda: directory.deactivate(user_id),
                      lambda: directory.grant("admin", user_id=user_id), lambda: directory.set_role(user_id, None)):
        with pytest.raises(UserError):
            operation()


@pytest.mark.parametrize("text", UNSEARCHABLE)
def test_text_no_database_can_compare_is_refused_in_filters_search_and_sorts(accounts, text):
    for operation in (lambda: accounts.query({"name": {"contains": text}}), lambda: accounts.query({"name": text}),
                      lambda: accounts.query({"name": {"in": ["Acme", text]}}),
                      lambda: accounts.query({"name": {"startswith": text}}),
                      lambda: accounts.query({"tags": {"contains": text}}), lambda: accounts.query(search=text),
                      lambda: accounts.count({"or": [{"name": "Acme"}, {"name": {"ne": text}}]}),
                      lambda: accounts.query({f"na{text}me": "Acme"}), lambda: accounts.query(sort=[f"-{text}"]),
                      lambda: accounts.query(sort=["name"], after=cursor(["name", "id"], [text, 1]))):
        with pytest.raises(QueryError) as caught:
            operation()
        caught.value.message.encode("utf-8")  # the sentence itself can be sent anywhere


def test_a_search_or_pattern_longer_than_the_documented_maximum_is_refused(accounts):
    longest = "a" * MAX_SEARCH_LENGTH
    assert names(accounts.query(search=longest)) == set()
    assert names(accounts.query({"name": {"contains": longest}})) == set()
    assert names(accounts.query({"name": {"startswith": "é" * MAX_SEARCH_LENGTH}})) == set()
    for operation in (lambda: accounts.query(search="a" * 100_000), lambda: accounts.query(search="a" * (MAX_SEARCH_LENGTH + 1)),
                      lambda: accounts.query({"name": {"contains": "%" * (MAX_SEARCH_LENGTH + 1)}})):
        with pytest.raises(QueryError, match="1,000"):
            operation()


def test_the_largest_filter_the_documentation_allows_runs(accounts):
    """500 conditions of 1,000 values each: more values than either database takes as parameters."""
    largest = [{"size": {"in": [1, *range(condition * MAX_VALUES + 10, (condition + 1) * MAX_VALUES + 9)]}}
               for condition in range(MAX_CONDITIONS)]
    assert all(len(condition["size"]["in"]) == MAX_VALUES for condition in largest)
    assert accounts.count(largest).value == 1  # only size 1 is in every list
    assert len(accounts.query(largest).records) == 1
    with pytest.raises(QueryError, match="500 conditions"):
        accounts.count(largest + [{"size": 1}])


def test_long_in_lists_compare_exactly_like_short_ones(accounts):
    padding = [str(Decimal(n) / 1000) for n in range(5000, 5500)]
    assert names(accounts.query({"revenue": {"in": ["1.5", "2.250", "3.001", *padding]}})) == {"Acme", "Beta"}
    assert names(accounts.query({"revenue": {"not_in": ["1.5", *padding]}})) == {"Beta", "Gamma"}
    assert names(accounts.query({"name": {"in": ["Beta", *(f"x{n}" for n in range(500))]}})) == {"Beta"}
    dates = ["2020-01-02", *(f"2019-{month:02d}-{day:02d}" for month in range(1, 13) for day in range(1, 29))]
    assert names(accounts.query({"founded": {"in": dates}})) == {"Beta"}
    assert names(accounts.query({"id": {"not_in": list(range(10, 1000))}})) == {"Acme", "Beta", "Gamma"}


def test_an_unknown_object_name_is_a_crmkit_error_with_a_suggestion(crm, accounts):
    from crmkit.metadata.errors import UnknownObject

    context = crm.as_system()
    for name, hint in [("crmkit_user", ""), ("acount", " Did you mean 'account'?"), ("", "")]:
        with pytest.raises(UnknownObject) as caught:
            context.records(name)
        assert isinstance(caught.value, CrmkitError) and caught.value.status == 404
        assert caught.value.message == f"there is no object named {name!r}.{hint}"
    with pytest.raises(UnknownObject):
        context.records(["account"])


def test_numbers_out_of_range_that_reach_the_database_are_still_a_sentence(crm, accounts):
    from crmkit.engine.database import NumberOutOfRange

    with pytest.raises(NumberOutOfRange, match="whole numbers go from"):
        crm.as_system().sharing.share("account", 1, user_id=2**63)
