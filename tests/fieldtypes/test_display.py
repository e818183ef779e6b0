"""How a stored value reads for a user: in their language, locale, time zone and currency."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from babel.numbers import get_currency_precision

from crmkit.engine.fieldtypes.display import (
    Display, exact_decimal, format_money, format_number, format_percentage, safe_link,
)
from crmkit.engine.fieldtypes.presentation import Presentation

from .conftest import MOMENT, PACKAGES, USERS, sample_value

EN = Presentation.of("en", "America/New_York", "USD")
ZH = Presentation.of("zh", "Asia/Shanghai", "CNY")


@pytest.mark.parametrize("package", sorted(PACKAGES))
@pytest.mark.parametrize(("language", "zone"), USERS)
def test_every_field_of_both_packages_is_shown_in_the_users_language_and_time_zone(
        presenter_for, registries, package, language, zone):
    presenter = presenter_for(package, language, zone)
    problems = []
    for obj in registries[package].objects.values():
        for fdef in obj.fields.values():
            field_type, value_def = presenter.value_field(fdef)
            value = sample_value(field_type, value_def)
            shown = presenter.display(fdef, {fdef.name: value}, title="Acme")
            if shown.kind in ("empty", "hidden") or not shown.text or "None" in shown.text:
                problems.append(f"{obj.name}.{fdef.name}: {shown}")
            if presenter.display(fdef, {fdef.name: None}).kind != "empty":
                problems.append(f"{obj.name}.{fdef.name}: an empty value is not shown as empty")
            if presenter.display(fdef, {}).kind != "hidden":
                problems.append(f"{obj.name}.{fdef.name}: a withheld value is not shown as hidden")
    assert problems == []


@pytest.mark.parametrize(("show", "text", "iso"), [
    (EN, "Dec 31, 2024, 3:30:00\u202fPM", "2024-12-31T15:30:00-05:00"),
    (ZH, "2025年1月1日 04:30:00", "2025-01-01T04:30:00+08:00"),
])
def test_a_moment_is_shown_in_the_users_time_zone_with_an_iso_value_for_machines(presenter_for, show, text, iso):
    presenter = presenter_for("all_types", show.language, show.timezone)
    kickoff = presenter.registry.object("project").fields["kickoff"]
    shown = presenter.display(kickoff, {"kickoff": MOMENT})
    assert (shown.kind, shown.text, shown.iso) == ("datetime", text, iso)


def test_a_date_is_the_same_day_everywhere_in_the_locales_medium_form(presenter_for):
    texts = []
    for language, zone in USERS:
        presenter = presenter_for("all_types", language, zone)
        starts_on = presenter.registry.object("project").fields["starts_on"]
        shown = presenter.display(starts_on, {"starts_on": date(2024, 12, 31)})
        texts.append((shown.text, shown.iso))
    assert texts == [("Dec 31, 2024", "2024-12-31"), ("2024年12月31日", "2024-12-31")]


def test_money_stays_exact(presenter_for):
    total = Decimal("0.10") + Decimal("0.20")
    assert format_money(total, EN) == "$0.30"
    assert format_money(Decimal("1234567.89"), EN) == "$1,234,567.89"
    assert format_money(Decimal("1234567.89"), ZH) == "¥1,234,567.89"
    assert format_money(Decimal("99999999999999999.99"), ZH) == "¥99,999,999,999,999,999.99"
    assert format_money(Decimal("0.1") + Decimal("0.2"), Presentation.of("de", "UTC", "EUR")) == "0,30\xa0€"
    assert format_money(Decimal("0.125"), EN) == "$0.125"  # more digits than cents: shown, not rounded
    assert format_money(Decimal("1234.00"), Presentation.of("en", "UTC", "JPY")) == "¥1,234"
    assert format_money(Decimal("1234.50"), Presentation.of("ja", "UTC", "JPY")) == "￥1,234.5"


def test_a_number_keeps_every_decimal_it_has_and_never_rounds(presenter_for):
    presenter = presenter_for("all_types", "zh")
    score = presenter.registry.object("project").fields["score"]  # decimal(10, 3)
    assert presenter.display(score, {"score": Decimal("1234567.125")}).text == "1,234,567.125"
    assert presenter.display(score, {"score": Decimal("2")}).text == "2.000"
    assert format_number(Decimal("-0.00"), EN) == "0.00"
    assert format_number(0.1 + 0.2, EN) == "0.30000000000000004"  # a float is shown as it is, not rounded away


def test_percent_fields_hold_the_number_shown(presenter_for):
    presenter = presenter_for("all_types", "en")
    discount = presenter.registry.object("project").fields["discount"]
    assert presenter.display(discount, {"discount": Decimal("12.50")}).text == "12.50%"


def test_yes_and_no_are_words_of_the_users_language(presenter_for):
    billable = presenter_for("all_types").registry.object("project").fields["billable"]
    assert [presenter_for("all_types", language).display(billable, {"billable": flag}).text
            for language in ("en", "zh") for flag in (True, False)] == ["Yes", "No", "是", "否"]


def test_picklist_values_are_shown_by_their_label_in_the_users_language(presenter_for):
    en, zh = presenter_for("default_crm", "en"), presenter_for("default_crm", "zh")
    fdef = next(f for f in en.registry.object("opportunity").fields.values()
                if f.type == "picklist" and any(o.label.texts.get("zh") for o in f.options))
    option = next(o for o in fdef.options if o.label.texts.get("zh"))
    assert en.display(fdef, {fdef.name: option.value}).text == option.label.get("en")
    assert zh.display(fdef, {fdef.name: option.value}).text == option.label.get("zh")
    assert zh.display(fdef, {fdef.name: "Retired long ago"}).text == "Retired long ago"


def test_several_picklist_values_are_a_list_in_the_locales_form(presenter_for):
    tags = presenter_for().registry.object("project").fields["tags"]
    values = {"tags": ["Internal", "Customer", "Research"]}
    en = presenter_for("all_types", "en").display(tags, values)
    zh = presenter_for("all_types", "zh").display(tags, values)
    assert (en.kind, en.items, en.text) == ("list", ("Internal", "Customer", "Research"),
                                            "Internal, Customer, and Research")
    assert zh.text == "Internal、Customer和Research"


def test_a_lookup_is_shown_by_the_title_its_caller_read(presenter_for):
    presenter = presenter_for("all_types", "zh")
    company = presenter.registry.object("project").fields["company"]
    assert presenter.display(company, {"company": 7}, title="星辰科技") == Display(
        "lookup", "星辰科技", target="company", record_id=7)
    assert presenter.display(company, {"company": 7}).text == "记录 7"  # no title given (or none readable)


@pytest.mark.parametrize(("field", "value", "href"), [
    ("contact_email", "li.wei@example.cn", "mailto:li.wei@example.cn"),
    ("contact_phone", "+86 10 8888 8888 ext. 12", "tel:+861088888888"),
    ("contact_phone", "(010) 8888-8888", "tel:01088888888"),
    ("website", "https://example.com/a?b=1&c=2", "https://example.com/a?b=1&c=2"),
])
def test_addresses_link_to_their_targets(presenter_for, field, value, href):
    fdef = presenter_for().registry.object("project").fields[field]
    shown = presenter_for().display(fdef, {field: value})
    assert (shown.kind, shown.text, shown.href) == ("link", value, href)


@pytest.mark.parametrize("address", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "https:alert(1)", "//evil.example",
    "https://exa mple.com", "https:\\\\evil.example", "\x01javascript:alert(1)",
])
def test_a_url_with_an_unsafe_scheme_is_never_a_link(presenter_for, address):
    website = presenter_for().registry.object("project").fields["website"]
    shown = presenter_for().display(website, {"website": address})
    assert (shown.kind, shown.href, shown.text) == ("text", None, address)
    assert safe_link(address) is None
    with pytest.raises(ValueError, match="not a safe link"):
        Display("link", "click", href=address)


def test_long_text_keeps_its_lines(presenter_for):
    notes = presenter_for().registry.object("project").fields["notes"]
    shown = presenter_for().display(notes, {"notes": "one\r\ntwo\n\nfour <b>"})
    assert shown.lines == ("one", "two", "", "four <b>")


def test_formulas_and_rollups_are_shown_as_the_type_they_hold(presenter_for, registries):
    presenter = presenter_for("all_types", "zh")
    project, company = presenter.registry.object("project"), presenter.registry.object("company")
    assert presenter.display(project.fields["margin"], {"margin": Decimal("0.30")}).text == "¥0.30"
    assert presenter.display(company.fields["total_budget"], {"total_budget": Decimal("1234567.89")}).text == \
        "¥1,234,567.89"
    assert presenter.display(company.fields["project_count"], {"project_count": 12345}).text == "12,345"
    assert presenter.display(company.fields["latest_start"], {"latest_start": date(2024, 3, 15)}).text == \
        "2024年3月15日"


def test_system_fields_have_labels_and_show_like_their_types(presenter_for):
    presenter = presenter_for("all_types", "zh", "Asia/Shanghai")
    project = presenter.registry.object("project")
    created_at = presenter.field(project, "created_at")
    assert presenter.label(created_at) == "创建时间"
    assert presenter.display(created_at, {"created_at": datetime(2024, 1, 1, tzinfo=timezone.utc)}).text == \
        "2024年1月1日 08:00:00"
    assert presenter.display(presenter.field(project, "owner_id"), {"owner_id": 3}, title="王芳").text == "王芳"


def test_an_unknown_language_or_time_zone_falls_back_instead_of_failing(presenter_for):
    presenter = presenter_for("all_types", "xx-YY", "Mars/Olympus")
    kickoff = presenter.registry.object("project").fields["kickoff"]
    assert presenter.display(kickoff, {"kickoff": MOMENT}).iso == "2024-12-31T20:30:00+00:00"


def test_moments_outside_fields_such_as_a_timeline_entry_read_the_same_way():
    from crmkit.engine.fieldtypes.display import format_date_value

    assert format_date_value(MOMENT, ZH).text == "2025年1月1日 04:30:00"
    assert format_date_value(date(2024, 12, 31), EN).text == "Dec 31, 2024"
    assert format_date_value(datetime(2024, 12, 31, 20, 30), EN).iso == "2024-12-31T15:30:00-05:00"  # naive is UTC


@pytest.mark.parametrize("language", ["en", "zh", "de", "de-CH", "fr", "hi", "ar", "fa", "ja", "pt-BR"])
def test_amounts_are_written_as_babel_writes_them_with_the_patterns_made_once(language):
    """format_money and format_percentage keep each locale's pattern (and, for common currency
    patterns, a faster writer): every amount reads exactly as Babel's NumberPattern writes it."""
    import random

    from crmkit.engine.fieldtypes.display import _apply, _places

    rng = random.Random(language)
    amounts = [Decimal(0), Decimal("-0.5"), Decimal("0.125"), Decimal("1E+3"), 1234567.891, -42,
               *(Decimal(rng.randrange(-10**12, 10**12)) / 10**rng.randrange(0, 5) for _ in range(40))]
    for currency in ("USD", "CNY", "JPY", "KWD"):
        show = Presentation.of(language, "UTC", currency)
        pattern = show.locale.currency_formats["standard"]
        for amount in amounts:
            number = exact_decimal(amount)
            places = max(_places(number.normalize()) if number else 0, get_currency_precision(currency))
            assert format_money(amount, show) == _apply(pattern, number, show, places, currency=currency,
                                                        currency_digits=False), (language, currency, amount)
            assert format_percentage(amount, show) == _apply(show.locale.percent_formats[None], number.scaleb(-2),
                                                             show, _places(number))


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_fast_displays_of_built_in_types_equal_checked_ones(presenter_for, registries, package):
    """Built-in formatters make their Displays without __post_init__ (display.plain); each must equal
    the Display its fields would make through the checks, link addresses included, and stay frozen."""
    import dataclasses

    presenter = presenter_for(package, "en", "UTC")
    for obj in registries[package].objects.values():
        for fdef in obj.fields.values():
            field_type, value_def = presenter.value_field(fdef)
            values = [sample_value(field_type, value_def)]
            if field_type.form_widget in ("text", "tel", "email", "url"):
                values += ["+86 (10) 5555-0100 x12", "no digits", "https://example.com/a?b=1"]
            for value in values:
                shown = presenter.displayer(fdef)({fdef.name: value}, "Acme")
                checked = Display(**{field.name: getattr(shown, field.name) for field in dataclasses.fields(Display)})
                assert shown == checked and hash(shown) == hash(checked), (obj.name, fdef.name)
                assert dataclasses.replace(shown) == shown
                with pytest.raises(dataclasses.FrozenInstanceError):
                    shown.text = "changed"
