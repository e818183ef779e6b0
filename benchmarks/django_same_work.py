"""The "Django doing the same work" column: what a competent Django team writes for crmkit's `deal`.

The plain Django column inserts rows computed beforehand (one INSERT per create). This one
does what crmkit's save pipeline does for the bench's `deal`, the way a Django team would:

- `full_clean()` before every save: the field rules crmkit has (name required and at most
  255 characters, stage one of the picklist's values, decimals within their digits and
  places) and the validation rule `amount_not_negative` in `clean()`;
- the default (`probability` 10) and the formula `expected = amount * probability / 100`
  (0 without an amount) computed in `save()`, with the version (created/updated at are
  `auto_now_add`/`auto_now`);
- a history row in the same `transaction.atomic()`, written by hand as django-simple-history
  would (no extra dependency): one row per create, one per changed field on update, in a
  table shaped like crmkit's `crmkit_history`.

Bulk: every row is built and `full_clean()`ed, then one `bulk_create` for the records and one
for their history rows per batch, in one `transaction.atomic()`.

What crmkit does beyond this column: its search index row per record (Django has no
equivalent on SQLite), its change-log row per record (the API's change feed, records/changes.py),
the operation start (metadata generation and the user's rights), the owner and created/updated-by
columns, and the after-save hooks. On SQLite the search and change-log rows are two more tables
each create's commit changes: some 2.3 WAL pages a record more (the line's note), which fill the
WAL sooner, so the automatic checkpoints (some 5 ms each at 1,000,000 rows on the bench machine,
one every ~70 creates) come more often.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping

from sqlalchemy import Table

_models: dict[tuple[str, str], tuple[Any, Any]] = {}


def models_for(deals: Table, history: Table, alias: str, dialect: str, stages: list[str]) -> tuple[Any, Any]:
    """(Deal, History): Django models over `deals` (a copy of crmkit's `deal`) and `history`."""
    from django.core.exceptions import ValidationError
    from django.db import models

    key = (alias, deals.name)
    if key in _models:
        return _models[key]

    def meta(table: Table) -> type:
        return type("Meta", (), {"managed": False, "db_table": table.name, "app_label": "bench"})

    history_fields: dict[str, Any] = {
        "__module__": __name__, "Meta": meta(history),
        "id": models.BigAutoField(primary_key=True),
        "object": models.CharField(max_length=63),
        "record_id": models.BigIntegerField(),
        "operation": models.CharField(max_length=16),
        "field": models.CharField(max_length=63, null=True),
        "old_value": models.JSONField(null=True),
        "new_value": models.JSONField(null=True),
        "changed_at": models.DateTimeField(),
        "changed_by": models.BigIntegerField(null=True),
    }
    History = type(f"{alias.title()}DealHistory", (models.Model,), history_fields)

    def decimal(precision: int, scale: int, **options: Any) -> Any:
        if dialect == "sqlite":  # crmkit stores decimals as scaled integers there
            return _scaled_decimal(models)(max_digits=precision, decimal_places=scale, null=True, blank=True,
                                           **options)
        return models.DecimalField(max_digits=precision, decimal_places=scale, null=True, blank=True, **options)

    class DealBase(models.Model):
        id = models.BigAutoField(primary_key=True)
        created_at = models.DateTimeField(auto_now_add=True)
        created_by = models.BigIntegerField(null=True, blank=True)
        updated_at = models.DateTimeField(auto_now=True)
        updated_by = models.BigIntegerField(null=True, blank=True)
        owner_id = models.BigIntegerField(null=True, blank=True)
        version = models.IntegerField(default=1)
        formula_errors = models.TextField(null=True, blank=True)
        name = models.CharField(max_length=255, null=True, blank=False)
        amount = decimal(18, 2)
        stage = models.CharField(max_length=255, null=True, blank=True, choices=[(s, s) for s in stages])
        probability = decimal(9, 2, default=Decimal(10))
        close_date = models.DateField(null=True, blank=True)
        expected = decimal(18, 2, editable=False)

        class Meta:
            abstract = True

        def clean(self) -> None:
            if self.amount is not None and self.amount < 0:
                raise ValidationError({"amount": "Amount must not be negative"})

        def compute(self) -> None:
            """The formula and the version, as `save()` sets them (created/updated at: auto_now)."""
            if self.amount:
                self.expected = (self.amount * self.probability / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
            else:
                self.expected = Decimal(0)
            self.version = 1 if self._state.adding else self.version + 1

        def save(self, *args: Any, **kwargs: Any) -> None:
            self.compute()
            super().save(*args, **kwargs)

    attributes = {"__module__": __name__, "Meta": meta(deals)}
    Deal = type(f"{alias.title()}DealSameWork", (DealBase,), attributes)
    _models[key] = (Deal, History)
    return Deal, History


def create_row(Deal: Any, History: Any, alias: str, values: Mapping[str, Any]) -> Any:
    """One deal created the Django way: full_clean, save (formula), its history row, one transaction."""
    from django.db import transaction

    deal = Deal(**values)
    deal.full_clean()
    with transaction.atomic(using=alias):
        deal.save(using=alias)
        History(object="deal", record_id=deal.pk, operation="create", changed_at=deal.updated_at).save(using=alias)
    return deal


def bulk_rows(Deal: Any, History: Any, alias: str, rows: Iterable[Mapping[str, Any]], batch: int) -> None:
    """Deals created in batches: each built, full_clean()ed and computed, then one bulk_create for
    the batch's records and one for their history rows, in one transaction per batch."""
    from django.db import transaction

    rows = list(rows)
    for offset in range(0, len(rows), batch):
        now = datetime.now(timezone.utc)
        deals = []
        for values in rows[offset:offset + batch]:
            deal = Deal(**values)
            deal.full_clean()
            deal.compute()
            deals.append(deal)
        with transaction.atomic(using=alias):
            Deal.objects.using(alias).bulk_create(deals, batch_size=batch)
            History.objects.using(alias).bulk_create(
                [History(object="deal", record_id=deal.pk, operation="create", changed_at=now) for deal in deals],
                batch_size=batch)


_scaled: list[Any] = []


def _scaled_decimal(models: Any) -> Any:
    """A DecimalField (validated as one) stored as a whole number of 10^-places units, as crmkit on SQLite."""
    if not _scaled:
        class ScaledDecimalField(models.DecimalField):
            def get_internal_type(self) -> str:
                return "BigIntegerField"

            def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
                return None if value is None else int(Decimal(value).scaleb(self.decimal_places))

            def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
                return None if value is None else Decimal(value).scaleb(-self.decimal_places)

        _scaled.append(ScaledDecimalField)
    return _scaled[0]
