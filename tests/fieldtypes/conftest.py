"""Fixtures for how fields are shown and edited: the standard CRM and the every-type package, without a database."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest

from crmkit.engine.fieldtypes import FieldType
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.metadata import Registry, load_package
from crmkit.metadata.model import FieldDef

REPOSITORY = Path(__file__).resolve().parent.parent.parent
PACKAGES = {
    "default_crm": REPOSITORY / "apps" / "default_crm.yaml",
    "all_types": REPOSITORY / "tests" / "packages" / "all_types_v1.yaml",
}
#: The languages and time zones every field is shown in: a day apart at the sample moment.
USERS = [("en", "America/New_York"), ("zh", "Asia/Shanghai")]
#: 20:30 UTC on New Year's Eve: still 31 December in New York, already 1 January in Shanghai.
MOMENT = datetime(2024, 12, 31, 20, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def extensions():
    from crmkit.engine.extensions import default_extensions

    return default_extensions()


@pytest.fixture(scope="session")
def registries(extensions) -> dict[str, Registry]:
    built = {}
    for name, path in PACKAGES.items():
        package, documents = load_package(path, extensions.catalog)
        built[name] = Registry.build([package], extensions.catalog, documents)
    return built


@pytest.fixture(scope="session")
def presenter_for(extensions, registries) -> Callable[..., FieldPresenter]:
    """presenter_for(package, language, timezone, currency="CNY") -> a FieldPresenter."""

    def make(package: str = "all_types", language: str = "en", zone: str = "UTC", currency: str = "CNY"):
        return FieldPresenter(extensions.field_types, registries[package], Presentation.of(language, zone, currency))

    return make


def sample_value(field_type: FieldType, fdef: FieldDef) -> Any:
    """A realistic stored value for a field, by the kind of value its type holds."""
    widget, kind = field_type.form_widget, field_type.kind.value_kind
    if widget == "select":
        return fdef.options[-1].value
    if widget == "multiselect":
        return [option.value for option in fdef.options[:2]]
    by_widget = {"textarea": "First line\nSecond line", "email": "li.wei@example.cn", "tel": "+86 10 8888 8888",
                 "url": "https://example.com/a?b=1&c=2", "currency": Decimal("1234567.89"),
                 "percent": Decimal("12.50")}
    if widget in by_widget:
        return by_widget[widget]
    return {"text": "Acme 星辰", "integer": 1234567, "decimal": Decimal("1234.5000"), "boolean": True,
            "date": date(2024, 12, 31), "datetime": MOMENT, "reference": 7, "list": ["a"]}[kind]


def every_field(registries) -> list[tuple[str, str, str]]:
    """(package, object, field) of every field of both packages."""
    return [(package, obj.name, name) for package, registry in registries.items()
            for obj in registry.objects.values() for name in obj.fields]
