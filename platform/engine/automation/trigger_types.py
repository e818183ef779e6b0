"""Automation triggers that plugins register (the `crmkit_automation_triggers` hook).

    from crmkit.engine.automation.trigger_types import TriggerType
    from crmkit.hookspecs import hookimpl

    def doubled(event):          # a RecordEvent: object, operation, previous, current, changed, actor, at
        return "amount" in event.changed and (event.current["amount"] or 0) >= 2 * (event.previous["amount"] or 0)

    @hookimpl
    def crmkit_automation_triggers():
        return [TriggerType.of("amount_doubled", doubled, operations={"update"})]

A rule naming it (`on: [amount_doubled]`) fires after a write of one of `operations` when
`fires(event)` is true (and the rule's `condition` holds): its after-save actions become
outbox rows in the write's transaction, exactly like a built-in trigger's
(automation/rules.py, write_outbox). Actions that change the record before it is saved
(update_record, run_script, assign_owner) cannot follow a plugin's trigger: the metadata
check refuses them and names update_related or create_record instead. `fires` runs inside
every such write: keep it quick and pure; raising rolls the write back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from crmkit.metadata.automation import TRIGGERS
from crmkit.metadata.catalog import TriggerKind
from crmkit.metadata.model import frozen_map

if TYPE_CHECKING:
    from crmkit.engine.records.events import RecordEvent

Fires = Callable[["RecordEvent"], bool]
#: The record operations a plugin's trigger may be tested on.
OPERATIONS = frozenset({"create", "update", "delete", "restore"})


@dataclass(frozen=True)
class TriggerType:
    """A plugin's trigger: its name and operations (`kind`) and the test of a write (`fires`)."""

    kind: TriggerKind
    fires: Fires

    @property
    def name(self) -> str:
        return self.kind.name

    @classmethod
    def of(cls, name: str, fires: Fires, *, operations: Iterable[str] = ("create", "update"),
           description: str = "") -> "TriggerType":
        """A trigger named `name` (an identifier) tested by `fires(event)` on writes of `operations`.

        Raises ValueError for an operation that is not one of OPERATIONS."""
        chosen = frozenset(operations)
        if not chosen or chosen - OPERATIONS:
            raise ValueError(f"the trigger {name!r} is tested on {', '.join(sorted(OPERATIONS))}; "
                             f"not on {', '.join(sorted(chosen - OPERATIONS)) or 'nothing'}")
        return cls(TriggerKind(name, chosen, description), fires)

    def fired_by(self, event: "RecordEvent") -> bool:
        """Whether `event` (a write) fires this trigger."""
        return event.operation.value in self.kind.operations and bool(self.fires(event))


def collect_trigger_types(contributions: Iterable[Iterable[TriggerType] | None]) -> Mapping[str, TriggerType]:
    """name -> TriggerType from the hook's results; ValueError for a built-in's name or a name given twice."""
    found: dict[str, TriggerType] = {}
    for contribution in contributions:
        for trigger in contribution or ():
            if trigger.name in TRIGGERS:
                raise ValueError(f"the automation trigger {trigger.name!r} is built in; a plugin cannot replace it: "
                                 "choose another name")
            if trigger.name in found:
                raise ValueError(f"two plugins define the automation trigger {trigger.name!r}")
            found[trigger.name] = trigger
    return frozen_map(found)
