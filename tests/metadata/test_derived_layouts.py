"""Every object of every package gets a sensible layout, derived where none is declared."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from crmkit.metadata import validate_paths
from crmkit.metadata.derived_layout import derive_layout, title_field
from crmkit.metadata.layout_checks import check_layout
from crmkit.metadata.semantic import ObjectScope, Reporter
from crmkit.shipped import default_crm_path
from tests.webapp import PROBE_PACKAGE

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGE_FILES = sorted([*REPOSITORY.glob("apps/*.yaml"), *REPOSITORY.glob("tests/packages/*.yaml")])


def registry_of(path: Path, catalog, probe: Path):
    """The package at `path` validated with the standard CRM (and the web tests' probe package) when it depends on them."""
    text = path.read_text(encoding="utf-8")
    paths = [path] if path == default_crm_path() or "default_crm" not in text else [default_crm_path(), path]
    if re.search(r"depends_on:.*\bprobe\b", text):
        paths.insert(1, probe)
    return validate_paths(paths, catalog)


@pytest.fixture(scope="module")
def objects_of_every_package(catalog, tmp_path_factory) -> list[tuple[object, str]]:
    """(registry, object name) for every object of every package under apps/ and tests/packages/."""
    probe = tmp_path_factory.mktemp("probe") / "probe.json"
    probe.write_text(PROBE_PACKAGE, encoding="utf-8")
    return [(registry, name) for registry in (registry_of(path, catalog, probe) for path in PACKAGE_FILES)
            for name in registry.objects]


def test_the_shipped_and_test_packages_have_objects(objects_of_every_package):
    assert len(objects_of_every_package) >= 12


def test_a_derived_layout_passes_the_checks_a_declared_one_must_pass(objects_of_every_package, catalog):
    for registry, name in objects_of_every_package:
        obj = registry.object(name)
        derived = derive_layout(obj, registry.objects, catalog)
        report = Reporter()
        check_layout(ObjectScope(replace(obj, layout=derived), registry.objects, catalog), report)
        assert report.problems == [], (name, [p.format() for p in report.problems])


#: tests/packages/every_field_type.yaml lists a column of every field type, for the list's tests.
WIDE_ON_PURPOSE = {"specimen"}


def test_every_effective_layout_is_complete_and_sensible(objects_of_every_package, catalog):
    for registry, name in objects_of_every_package:
        obj, layout = registry.object(name), registry.layout(name)
        placed = [item.name for _, item in layout.form_fields()]
        assert len(placed) == len(set(placed)) and set(placed) <= set(obj.fields), name
        must_fill = {f.name for f in obj.fields.values() if f.required and f.default is None
                     and not f.default_expression and f.type not in ("formula", "rollup", "autonumber")}
        assert must_fill <= set(placed), name
        assert all(section.columns in (1, 2) and section.fields for section in layout.form), name
        assert 1 <= len(layout.list.columns) <= (len(obj.fields) + 1 if name in WIDE_ON_PURPOSE else 7), name
        assert layout.list.sort, name
        if "list" in layout.derived:
            assert layout.list.columns[0] == title_field(obj), name
        board = layout.board
        if board is not None:
            assert obj.fields[board.group_by].type == "picklist", name
        children = set(registry.children.get(name, ()))
        if "related" in layout.derived:
            assert {related.key for related in layout.related} == children, name
        assert all(related.title for related in layout.related), name
        assert layout.highlights and len(layout.highlights) <= 8, name


SHOP = """\
package: shop
version: "1.0.0"
objects:
  customer:
    title_field: name
    fields:
      notes: {type: textarea}
      active: {type: boolean}
      email: {type: email}
      name: {type: text}
      tier: {type: picklist, options: [Gold, Silver]}
      code: {type: autonumber, format: "C-{0}"}
      lifetime: {type: rollup, from: purchase.customer, aggregate: sum, field: total}
      region: {type: text, required: true}
  purchase:
    fields:
      subject: {type: text}
      customer: {type: lookup, to: customer}
      referrer: {type: lookup, to: customer, label: {en: Referred By, zh: 推荐人}}
      kind: {type: picklist, options: [Online, Shop]}
      status: {type: picklist, options: [Open, Paid]}
      tags: {type: multi_picklist, options: [A, B]}
      total: {type: currency}
      amount: {type: currency}
      doubled: {type: formula, returns: currency, formula: "(amount or 0) * 2"}
  note:
    fields:
      body: {type: textarea}
      written: {type: date}
"""


@pytest.fixture(scope="module")
def shop(catalog, tmp_path_factory):
    path = tmp_path_factory.mktemp("shop") / "shop.yaml"
    path.write_text(SHOP, encoding="utf-8")
    return validate_paths([path], catalog)


def test_the_form_puts_title_autonumber_and_required_first_long_text_apart_and_computed_read_only(shop):
    form = shop.layout("customer").form
    assert [(section.name, section.columns, section.field_names) for section in form] == [
        ("details", 2, ("name", "code", "region", "active", "email", "tier")),
        ("more", 1, ("notes",)),
        ("calculated", 2, ("lifetime",)),
    ]
    assert (form[0].title.get("zh"), form[1].title.get("zh"), form[2].title.get("zh")) == ("详细信息", "更多信息", "计算值")
    assert [item.read_only for item in form[0].fields] == [False, True, False, False, False, False]
    assert form[2].fields[0].read_only


def test_the_list_shows_the_title_and_useful_fields_never_long_text_lists_or_yes_no(shop):
    # region is required, tier a picklist, email and code contact details and a number: five, in declared order
    assert shop.layout("customer").list.columns == ("name", "email", "tier", "code", "lifetime", "region")
    purchase = shop.layout("purchase").list
    assert purchase.columns[0] == "subject" and "tags" not in purchase.columns
    assert purchase.sort == ("subject",)
    assert shop.layout("note").list.columns == ("body", "written")  # no text field: the first field names it


def test_the_board_prefers_status_and_sums_the_amount(shop):
    board = shop.layout("purchase").board
    assert (board.group_by, board.sum) == ("status", "amount")
    assert board.group_by not in board.card and len(board.card) <= 3
    assert board.card[0] == "amount"  # each card shows the figure its column's total adds up
    assert shop.layout("note").board is None  # no picklist, no board


def test_every_lookup_pointing_here_gives_a_related_list_named_after_the_lookup_when_needed(shop):
    related = shop.layout("customer").related
    assert [(item.object, item.via) for item in related] == [("purchase", "customer"), ("purchase", "referrer")]
    assert related[1].title.get("zh") == "Purchases (推荐人)"
    assert related[1].title.get("en") == "Purchases (Referred By)"
    assert "referrer" not in related[1].columns and len(related[1].columns) <= 4


def test_highlights_lead_with_the_board_and_end_with_the_owner(shop):
    assert shop.layout("purchase").highlights[:2] == ("status", "amount")
    assert shop.layout("purchase").highlights[-1] == "owner_id"


def test_the_standard_crm_declares_its_layouts_and_derives_none(catalog):
    registry = validate_paths([default_crm_path()], catalog)
    for name in registry.objects:
        assert registry.layout(name).derived == frozenset(), name
    opportunity, case = registry.layout("opportunity").board, registry.layout("service_case").board
    assert (opportunity.group_by, opportunity.sum) == ("stage", "amount")
    assert case.group_by == "status"
    assert all(section.title.get("zh") != section.title.get("en")
               for name in registry.objects for section in registry.layout(name).form)
    loss = registry.layout("opportunity").form_field("loss_reason")
    assert next(s for s, item in registry.layout("opportunity").form_fields() if item is loss).reads == {"stage"}
    assert registry.layout("opportunity").form_field("probability").read_only
