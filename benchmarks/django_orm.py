"""Django's ORM on the bench's own tables: configured in-process, models built from the tables.

Every bench database is one Django database alias; models are unmanaged (`managed=False`)
and mapped onto existing tables, with the columns crmkit's schema has, so Django reads and
writes exactly what crmkit and raw Core do. On SQLite crmkit stores exact decimals as
scaled integers (cents), so a decimal column is a small custom field doing the same.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Table, make_url

_models: dict[tuple[str, str], Any] = {}


def configure(databases: dict[str, str]) -> None:
    """Set up Django once for this process, one alias per bench database (alias -> SQLAlchemy URL).

    Called again (the test suite runs the bench and other Django work in one process), it adds
    the aliases Django does not know yet.
    """
    import django
    from django.conf import settings

    if settings.configured:
        missing = {alias: url for alias, url in databases.items() if alias not in settings.DATABASES}
        if missing:
            from django.db import connections

            settings.DATABASES.update({alias: _django_database(url) for alias, url in missing.items()})
            connections.__dict__.pop("settings", None)  # a cached_property: read DATABASES again
        return
    settings.configure(
        DATABASES={"default": _django_database(next(iter(databases.values()))),
                   **{alias: _django_database(url) for alias, url in databases.items()}},
        INSTALLED_APPS=[], USE_TZ=True, TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()


def _django_database(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # The settings crmkit's own connections use (engine/database.py: WAL, which the file keeps, and
        # synchronous=NORMAL, which is per connection): with Django's default FULL each commit would wait for
        # an fsync crmkit does not, and the comparison would not be of the same work.
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parsed.database,
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL"}}
    options = {}
    if "options" in parsed.query:
        options["options"] = parsed.query["options"]
    return {"ENGINE": "django.db.backends.postgresql", "NAME": parsed.database, "USER": parsed.username or "",
            "PASSWORD": parsed.password or "", "HOST": parsed.host or "", "PORT": str(parsed.port or ""),
            "OPTIONS": options}


def model_for(table: Table, alias: str, dialect: str) -> Any:
    """An unmanaged Django model class over `table` (one per table and alias)."""
    from django.db import models

    key = (alias, table.name)
    if key not in _models:
        attributes: dict[str, Any] = {
            "__module__": __name__,
            "Meta": type("Meta", (), {"managed": False, "db_table": table.name, "app_label": "bench"}),
        }
        for column in table.columns:
            attributes[column.name] = _field(models, column, dialect)
        _models[key] = type(f"{alias.title()}{table.name.title().replace('_', '')}", (models.Model,), attributes)
    return _models[key]


def _field(models, column, dialect: str):
    if column.primary_key:
        return models.BigAutoField(primary_key=True)
    options = {"null": column.nullable, "db_column": column.name}
    kind = column.type
    python_type = kind.python_type
    if python_type is Decimal:
        scale = kind.scale or 0
        if dialect == "sqlite":
            return _scaled_decimal_field(models)(scale=scale, **options)
        return models.DecimalField(max_digits=kind.precision, decimal_places=scale, **options)
    if python_type is datetime:
        return models.DateTimeField(**options)
    if python_type is date:
        return models.DateField(**options)
    if python_type is bool:
        return models.BooleanField(**options)
    if python_type is int:
        return models.IntegerField(**options) if type(kind) is Integer else models.BigIntegerField(**options)
    if python_type is str and getattr(kind, "length", None):
        return models.CharField(max_length=kind.length, **options)
    return models.TextField(**options)  # long text, and JSON documents the bench leaves empty


_scaled: list[Any] = []


def _scaled_decimal_field(models):
    """A DecimalField stored as a whole number of 10^-scale units, as crmkit stores decimals on SQLite."""
    if not _scaled:
        class ScaledDecimalField(models.BigIntegerField):
            def __init__(self, *args, scale: int = 2, **kwargs):
                self.scale = scale
                super().__init__(*args, **kwargs)

            def get_prep_value(self, value):
                return None if value is None else int(Decimal(value).scaleb(self.scale))

            def from_db_value(self, value, expression, connection):
                return None if value is None else Decimal(value).scaleb(-self.scale)

        _scaled.append(ScaledDecimalField)
    return _scaled[0]


def close() -> None:
    """Close Django's connections (before a bench database is dropped)."""
    from django.db import connections

    connections.close_all()
