"""The field macros (crmkit/ui/templates/fields/) render display, inputs and filters safely and accessibly.

Rendered with a plain jinja2 Environment with autoescape on and crmkit's display and filter globals
(crmkit/ui/display_html.py, crmkit/ui/filter_html.py), as Flask renders them.
"""
from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.metadata.model import FieldDef, Label, PicklistOption
from crmkit.ui import display_html, filter_html

from .conftest import PACKAGES, USERS, sample_value

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "platform" / "ui" / "templates"
XSS = "\"'><script>alert(1)</script><img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def macros():
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)
    display_html.install(environment)
    filter_html.install(environment)
    return {name: environment.get_template(f"fields/{name}.html").module for name in ("display", "input", "filter")}


class Page(HTMLParser):
    """The tags of rendered HTML: (tag, attributes) in order, and every text between them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def ids(self) -> set[str]:
        return {attrs["id"] for _, attrs in self.tags if attrs.get("id")}


def record_url(target: str, record_id: int) -> str:
    return f"/r/{target}/{record_id}"


def render_all(macros, presenter: FieldPresenter, fdef: FieldDef, row, errors=(), title=None) -> dict[str, str]:
    shown = presenter.display(fdef, row, title)
    cell = str(macros["display"].cell(shown, record_url))
    # A list formats a column once (presenter.displayer) and writes a row's cells in one call: the same cells.
    assert presenter.displayer(fdef)(row, title) == shown
    assert str(display_html.cells_html((shown, shown), record_url)) == cell * 2
    return {
        "display": str(macros["display"].row(presenter.label(fdef), shown, record_url)),
        "cell": cell,
        "input": str(macros["input"].field(presenter.widget(fdef, row, title=title), list(errors))),
        "filter": str(macros["filter"].field(presenter.list_filter(fdef, {}))),
    }


def assert_strict_csp_safe(html: str) -> None:
    """Nothing a strict Content Security Policy blocks, and no markup from data: no script, handler, style."""
    page = Page(html)
    assert not page.all("script") and not page.all("style") and not page.all("img"), html
    for tag, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on") or name == "style"], (tag, attrs)
        assert not (attrs.get("href") or "").lower().startswith(("javascript", "data", "vbscript")), attrs


def assert_inputs_are_labelled(html: str) -> None:
    page = Page(html)
    labelled = {attrs.get("for") for attrs in page.all("label")}
    for tag in ("input", "select", "textarea"):
        for attrs in page.all(tag):
            if attrs.get("type") != "hidden":
                assert attrs["id"] in labelled, (tag, attrs)
    for _, attrs in page.tags:
        for target in (attrs.get("aria-describedby") or "").split() + (attrs.get("aria-labelledby") or "").split():
            assert target in page.ids(), (target, html)


@pytest.mark.parametrize("package", sorted(PACKAGES))
@pytest.mark.parametrize(("language", "zone"), USERS)
def test_every_field_renders_in_every_macro(macros, presenter_for, registries, package, language, zone):
    presenter = presenter_for(package, language, zone)
    for obj in registries[package].objects.values():
        for fdef in obj.fields.values():
            field_type, value_def = presenter.value_field(fdef)
            row = {fdef.name: sample_value(field_type, value_def)}
            for part, html in render_all(macros, presenter, fdef, row, ["is required."], "Acme").items():
                assert_strict_csp_safe(html)
                assert_inputs_are_labelled(html)
                assert presenter.label(fdef) in html or part == "cell", (fdef.name, part)
            shown = presenter.display(fdef, row, "Acme")
            assert str(Page(str(macros["display"].value(shown, record_url))).text) != "[]", fdef.name


def hostile_fields() -> list[FieldDef]:
    hostile = Label.of({"en": XSS, "zh": XSS})
    options = (PicklistOption(XSS, hostile), PicklistOption("ok", hostile))
    return [FieldDef(name, kind, hostile, help=hostile, options=options if "pick" in kind else (), to="account")
            for name, kind in (("t", "text"), ("a", "textarea"), ("e", "email"), ("p", "phone"), ("u", "url"),
                               ("s", "picklist"), ("m", "multi_picklist"), ("l", "lookup"), ("n", "currency"))]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_payload_in_a_value_label_help_text_or_option_label_is_escaped_everywhere(macros, presenter_for, language):
    presenter = presenter_for("all_types", language)
    for fdef in hostile_fields():
        value = [XSS] if fdef.type == "multi_picklist" else 7 if fdef.type == "lookup" else (
            Decimal("1") if fdef.type == "currency" else XSS)
        rendered = render_all(macros, presenter, fdef, {fdef.name: value}, [XSS], title=XSS)
        for html in rendered.values():
            assert_strict_csp_safe(html)
            assert "<script>" not in html, fdef.name
        assert "&lt;script&gt;" in rendered["input"] and "&lt;script&gt;" in rendered["filter"], fdef.name
        typed = presenter.widget(fdef, {fdef.name: value}, typed=[XSS])
        assert_strict_csp_safe(str(macros["input"].field(typed, [XSS])))
        given = presenter.list_filter(fdef, {f"{fdef.name}__contains": XSS, f"{fdef.name}__in": XSS,
                                             f"{fdef.name}__eq": XSS})
        assert_strict_csp_safe(str(macros["filter"].field(given)))


def test_a_javascript_url_is_shown_as_text_never_as_a_link(macros, presenter_for):
    presenter = presenter_for()
    website = presenter.registry.object("project").fields["website"]
    for address in ("javascript:alert(1)", " JAVASCRIPT:alert(1)", "java\nscript:alert(1)"):
        html = str(macros["display"].value(presenter.display(website, {"website": address})))
        assert Page(html).all("a") == [] and "alert(1)" in html


def test_safe_addresses_are_links_and_external_ones_open_apart(macros, presenter_for):
    presenter = presenter_for()
    project = presenter.registry.object("project")
    website = presenter.display(project.fields["website"], {"website": "https://a.example/?x=1&y=2"})
    html = str(macros["display"].value(website))
    assert Page(html).all("a") == [{"href": "https://a.example/?x=1&y=2", "rel": "noopener noreferrer nofollow",
                                    "target": "_blank"}]
    mail = str(macros["display"].value(presenter.display(project.fields["contact_email"], {"contact_email": "li@x.cn"})))
    assert Page(mail).all("a")[0]["href"] == "mailto:li@x.cn"
    lookup = str(macros["display"].value(presenter.display(project.fields["company"], {"company": 7}, "Acme"),
                                         record_url))
    assert Page(lookup).all("a") == [{"href": "/r/company/7"}] and "Acme" in lookup


def test_a_field_error_is_shown_beside_its_input_which_keeps_what_was_typed(macros, presenter_for):
    presenter = presenter_for("all_types", "zh")
    budget = presenter.registry.object("project").fields["budget"]
    widget = presenter.widget(budget, {"budget": Decimal("5.00")}, typed=["12,3x"])
    page = Page(str(macros["input"].field(widget, ["'12,3x' is not a number."])))
    (field,) = page.all("input")
    assert field["value"] == "12,3x" and field["aria-invalid"] == "true" and "is-invalid" in field["class"]
    assert field["aria-describedby"] == "field-budget-errors"
    assert "'12,3x' is not a number." in "".join(page.text)
    assert [attrs["class"] for attrs in page.all("span")] == ["input-group-text"]  # the currency symbol, ¥


def test_required_fields_are_marked_and_help_text_describes_the_input(macros, presenter_for):
    presenter = presenter_for("all_types", "en")
    name = presenter.registry.object("project").fields["name"]
    page = Page(str(macros["input"].field(presenter.widget(name), [])))
    (field,) = page.all("input")
    assert "required" in field and [a for a in page.all("span") if a.get("aria-hidden") == "true"]
    helped = FieldDef("name", "text", Label.of("Name"), help=Label.of({"en": "Legal name", "zh": "法定名称"}))
    page = Page(str(macros["input"].field(presenter_for("all_types", "zh").widget(helped), [])))
    assert page.all("input")[0]["aria-describedby"] == "field-name-help" and "法定名称" in "".join(page.text)


def test_a_checkbox_and_a_multiple_select_send_a_blank_marker_first(macros, presenter_for):
    presenter = presenter_for()
    project = presenter.registry.object("project")
    for name in ("billable", "tags"):
        inputs = Page(str(macros["input"].field(presenter.widget(project.fields[name]), []))).all("input")
        assert inputs[0] == {"type": "hidden", "name": name, "value": ""}


def test_long_text_keeps_its_lines_and_its_first_newline(macros, presenter_for):
    presenter = presenter_for()
    notes = presenter.registry.object("project").fields["notes"]
    shown = str(macros["display"].value(presenter.display(notes, {"notes": "a <b>\nb"})))
    assert shown == "a &lt;b&gt;<br>b"
    textarea = str(macros["input"].control(presenter.widget(notes, {"notes": "\nstarts blank"})))
    assert textarea.endswith(">\n\nstarts blank</textarea>")  # the parser drops one leading newline, not ours


def test_the_plugin_field_types_format_edit_and_filter_their_own_way(macros, extensions, registries):
    presenter = FieldPresenter(extensions.field_types, registries["all_types"], Presentation.of("zh", "Asia/Shanghai"))
    mobile = FieldDef("mobile", "cn_mobile", Label.of({"en": "Mobile", "zh": "手机"}))
    code = FieldDef("credit_code", "cn_credit_code", Label.of({"en": "Credit code", "zh": "统一社会信用代码"}))
    shown = presenter.display(mobile, {"mobile": "13812345678"})
    assert (shown.text, shown.href) == ("138 1234 5678", "tel:+8613812345678")
    html = str(macros["display"].value(shown))
    assert Page(html).all("a")[0]["href"] == "tel:+8613812345678"
    widget = presenter.widget(mobile, {"mobile": "13812345678"})
    assert (widget.input_type, dict(widget.attributes)) == (
        "tel", {"maxlength": "20", "inputmode": "tel", "autocomplete": "tel-national"})
    assert dict(presenter.widget(code).attributes)["maxlength"] == "18"
    assert [c.param for c in presenter.list_filter(code, {}).controls] == [
        "credit_code__eq", "credit_code__startswith", "credit_code__is_null"]
    for fdef in (mobile, code):
        for html in render_all(macros, presenter, fdef, {fdef.name: "91350100M000100Y43"}).values():
            assert_strict_csp_safe(html)
            assert_inputs_are_labelled(html)


def test_a_plugin_type_without_presentation_gets_the_defaults_of_its_value_kind(macros, registries):
    from sqlalchemy import Integer

    from crmkit.engine.fieldtypes import FieldType, FieldTypes
    from crmkit.engine.fieldtypes.builtin import BUILTIN_TYPES
    from crmkit.engine.fieldtypes.inputs import WholeNumber
    from crmkit.metadata.catalog import FieldKind

    stars = FieldType(FieldKind("stars", "integer"), lambda fdef, lookup, registry: Integer(),
                      input_field=lambda fdef: WholeNumber(), widget="stars")
    types = FieldTypes.collect([BUILTIN_TYPES, [stars]])
    presenter = FieldPresenter(types, registries["all_types"], Presentation.of("en"))
    rating = FieldDef("rating", "stars", Label.of("Rating"))
    assert presenter.display(rating, {"rating": 12345}).text == "12,345"
    widget = presenter.widget(rating, {"rating": 4})
    assert (widget.widget, widget.input_type, widget.value) == ("stars", "number", "4")
    params = [c.param for c in presenter.list_filter(rating).controls]
    assert params == ["rating__gte", "rating__lte", "rating__is_null"]
    assert_inputs_are_labelled(str(macros["input"].field(widget, [])))


def test_a_read_only_field_is_labelled_described_and_links_its_record(macros, presenter_for):
    presenter = presenter_for("all_types", "en")
    project = presenter.registry.object("project")
    owner = presenter.widget(presenter.field(project, "owner_id"), {"owner_id": 3}, title="Wang Fang")
    helped = FieldDef("company", "lookup", Label.of("Company"), help=Label.of("Who pays"), to="company",
                      read_only=True)
    page = Page(str(macros["input"].field(presenter.widget(helped, {"company": 7}, title="Acme"), [], record_url)))
    (group,) = [attrs for _, attrs in page.tags if attrs.get("role") == "group"]
    assert group["aria-labelledby"] == "field-company-label" and group["aria-describedby"] == "field-company-help"
    assert page.all("a") == [{"href": "/r/company/7"}]
    assert "Wang Fang" in str(macros["input"].field(owner, [], record_url))  # a user, not a record: no link
    assert Page(str(macros["input"].field(owner, [], record_url))).all("a") == []
