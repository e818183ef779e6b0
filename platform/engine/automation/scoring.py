"""Scoring: the sum of the points of an object's scoring rules whose condition holds, kept in a number field.

In the save (automation/rules.py, step 5 of docs/automation.md), after the before-save
rules: on create, and on an update that changes a field a condition reads (or that a
before-save rule set), the score is computed on the values as they will be saved and set
like a before-save value. A condition that cannot be evaluated (blank values compared with
`>`) counts as not holding, with a warning on `crmkit.automation`: a lead is never refused
for its score.

    rescore(crm, "lead")      # existing records, in batches of 500 by id; returns how many changed

Rescoring reads the table in keyset batches (never the whole table), and writes only the
score column of the records whose score differs: no new version, no history line, no
automation fired, as when the platform recomputes a stored value.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping

from sqlalchemy import bindparam, select, update

from crmkit.engine.records.evaluation import load_related
from crmkit.metadata.assignment import Scoring
from crmkit.metadata.model import SYSTEM_FIELDS, ObjectDef
from crmkit.sandbox import SandboxError, compile_expression

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm
    from crmkit.engine.records.evaluation import Evaluator

logger = logging.getLogger("crmkit.automation")

#: Records read and rescored per transaction.
RESCORE_BATCH = 500


@lru_cache(maxsize=256)
def _reads(condition: str) -> frozenset[str]:
    return compile_expression(condition).value_names


def scoring_reads(obj: ObjectDef) -> frozenset[str]:
    """The fields of `obj` (and system fields) that its scoring conditions read: a change of one re-scores."""
    if obj.scoring is None:
        return frozenset()
    names = frozenset().union(*(_reads(rule.condition) for rule in obj.scoring.rules))
    return frozenset(name for name in names if name in obj.fields or name in SYSTEM_FIELDS)


def needs_scoring(obj: ObjectDef, values: Mapping[str, Any], previous: Mapping[str, Any] | None,
                  changed: Any = ()) -> bool:
    """Whether this save computes the score: a create, or a change of a field the conditions read."""
    if obj.scoring is None:
        return False
    if previous is None:
        return True
    reads = scoring_reads(obj)
    return any(values.get(name) != previous.get(name) for name in reads) or bool(reads & set(changed))


def score(scoring: Scoring, names: Mapping[str, Any], functions: Mapping[str, Any], *,
          object_name: str = "", record_id: Any = None) -> int | Decimal:
    """The sum of the points of the rules whose condition holds on `names` (an int when it is whole)."""
    total = Decimal(0)
    for rule in scoring.rules:
        try:
            holds = compile_expression(rule.condition).evaluate(names, functions)
        except SandboxError as error:
            logger.warning("scoring of %s record %s: the condition %r could not be evaluated, counted as false: %s",
                           object_name, record_id or "(new)", rule.condition, error)
            holds = False
        if holds:
            total += Decimal(str(rule.points))
    return int(total) if total == total.to_integral_value() else total


def rescore(crm: "Crm", object_name: str, *, batch_size: int = RESCORE_BATCH,
            progress: Callable[[int], None] | None = None) -> int:
    """Recompute the score of every record of `object_name`, in batches; returns how many scores changed.

    KeyError (UnknownObject) for an object not installed; ValueError when it has no scoring.
    """
    runtime = crm.runtime
    obj = runtime.registry.object(object_name)
    if obj.scoring is None:
        raise ValueError(f"{object_name} has no scoring rules")
    table, field = runtime.table(object_name), obj.scoring.field
    context = crm.as_system()
    evaluator: "Evaluator" = context.pipeline(object_name).evaluator
    statement = update(table).where(table.c.id == bindparam("_id")).values({field: bindparam("_score")})
    changed, last = 0, None
    while True:
        with context.writing() as connection:
            query = select(table).order_by(table.c.id).limit(batch_size)
            if last is not None:
                query = query.where(table.c.id > last)
            rows = [dict(row._mapping) for row in connection.execute(query)]
            if not rows:
                return changed
            clock = context.clock_functions(crm.clock())
            updates = []
            for values in rows:
                names, functions = evaluator.scope(values, load_related(connection, runtime, obj, values), None, clock)
                fresh = score(obj.scoring, names, functions, object_name=object_name, record_id=values["id"])
                if values[field] is None or Decimal(str(values[field])) != Decimal(str(fresh)):
                    updates.append({"_id": values["id"], "_score": fresh})
            if updates:
                connection.execute(statement, updates)
            changed += len(updates)
            last = rows[-1]["id"]
        if progress is not None:
            progress(len(rows))
