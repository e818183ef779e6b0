"""Owner assignment and lead scoring in the model: the `assign_owner` action and an object's `scoring:`.

    automations:
      - name: assign_new_leads
        on: [created]
        actions:
          - {type: assign_owner, strategy: round_robin, role: sales_rep}
          - type: assign_owner
            strategy: least_loaded
            team: support_east
            open: {status: [New, Working]}      # the records that count as a user's load (a filter, docs/query.md)
          - type: assign_owner
            strategy: rules
            rules:
              - {when: {region: East, industry: [Technology, Finance]}, team: east_tech}
              - {when: {region: West}, user: wang.fang}
            fallback: {role: sales_rep}
    scoring:
      field: score
      rules:
        - {condition: "not is_blank(email)", points: 10}

Frozen dataclasses built from schema-checked documents; the checks that they make sense are
in assignment_checks.py, what they do at run time in crmkit.engine.automation.assignment and
crmkit.engine.automation.scoring (docs/automation.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from crmkit.metadata.model import NOWHERE, SourceLocation, frozen_map

if TYPE_CHECKING:
    from crmkit.metadata.source import SourceDocument

#: How an assign_owner action picks the owner.
STRATEGIES = ("round_robin", "least_loaded", "rules")
#: The keys of an assign_owner action (besides `type`): what `AutomationAction.assignment` is built from.
ASSIGNMENT_KEYS = frozenset({"strategy", "role", "team", "user", "open", "rules", "fallback", "keep_own"})


@dataclass(frozen=True)
class OwnerPool:
    """Who may be given a record: the active users of `role`, the active members of `team`, or `user` (a username)."""

    role: str | None = None
    team: str | None = None
    user: str | None = None

    @property
    def given(self) -> tuple[str, ...]:
        """The keys given ("role", "team", "user"); exactly one is right."""
        return tuple(key for key in ("role", "team", "user") if getattr(self, key))

    def describe(self) -> str:
        """`role sales_rep`, `team east`, `user wang.fang` (for log lines)."""
        return ", ".join(f"{key} {getattr(self, key)}" for key in self.given) or "nobody"

    def key(self) -> str:
        """The pool as text, part of a round-robin counter's key."""
        return "|".join(f"{key}={getattr(self, key)}" for key in self.given)


@dataclass(frozen=True)
class AssignmentRule:
    """A row of a rule table: when every field of `when` holds one of its values, the owner comes from `pool`."""

    when: Mapping[str, tuple[Any, ...]]
    pool: OwnerPool
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)

    def matches(self, values: Mapping[str, Any]) -> bool:
        """Whether the record's `values` hold, for every field of `when`, one of its values (compared as text)."""
        return all(_text(values.get(name)) in {_text(value) for value in allowed} for name, allowed in self.when.items())


def _text(value: Any) -> str | None:
    """Values compared as text, so that 5, 5.0 and Decimal('5.00') in YAML and in a record agree."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, Decimal)):
        return str(Decimal(str(value)).normalize())
    return str(value)


@dataclass(frozen=True)
class OwnerAssignment:
    """What an assign_owner action does: `strategy` over `pool` (round_robin, least_loaded) or `rules` then `fallback`."""

    strategy: str
    pool: OwnerPool = _field(default_factory=OwnerPool)
    #: least_loaded: the filter (docs/query.md) of the records that count as a user's load; None: all of them.
    open: Mapping[str, Any] | None = None
    rules: tuple[AssignmentRule, ...] = ()
    fallback: OwnerPool | None = None
    #: Whether a person saving the record who is one of the eligible users keeps it (takes no one's turn).
    keep_own: bool = False
    #: The assignment keys written (a check refuses them on other action types).
    given: tuple[str, ...] = _field(default=(), compare=False)


@dataclass(frozen=True)
class ScoringRule:
    """`points` (may be negative or a fraction) when `condition` holds."""

    condition: str
    points: Any
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Scoring:
    """An object's score: the sum of the points of its rules whose condition holds, kept in the number `field`."""

    field: str
    rules: tuple[ScoringRule, ...]
    package: str = ""
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


def _pool(spec: Mapping[str, Any] | None) -> OwnerPool:
    spec = spec or {}
    return OwnerPool(role=spec.get("role"), team=spec.get("team"), user=spec.get("user"))


def build_assignment(document: "SourceDocument", path: tuple, spec: Mapping[str, Any]) -> OwnerAssignment | None:
    """The OwnerAssignment of an action spec, or None when it is not an assign_owner action."""
    from crmkit.metadata.builder import location

    given = tuple(sorted(key for key in ASSIGNMENT_KEYS if key in spec))
    if spec.get("type") != "assign_owner" and not given:
        return None
    rules = tuple(
        AssignmentRule(when=frozen_map({name: tuple(value) if isinstance(value, list) else (value,)
                                        for name, value in (rule.get("when") or {}).items()}),
                       pool=_pool(rule), location=location(document, path + ("rules", number), at_key=False))
        for number, rule in enumerate(spec.get("rules") or ()))
    return OwnerAssignment(strategy=spec.get("strategy", "round_robin"), pool=_pool(spec),
                           open=frozen_map(spec["open"]) if isinstance(spec.get("open"), dict) else spec.get("open"),
                           rules=rules, fallback=_pool(spec["fallback"]) if spec.get("fallback") else None,
                           keep_own=bool(spec.get("keep_own", False)), given=given)


def build_scoring(document: "SourceDocument", package: str, base: tuple,
                  spec: Mapping[str, Any] | None) -> Scoring | None:
    """The Scoring of an object's (or extension's) `scoring:`, or None without one."""
    from crmkit.metadata.builder import location

    if not spec:
        return None
    path = base + ("scoring",)
    rules: Sequence[Mapping[str, Any]] = spec.get("rules") or ()
    return Scoring(field=spec["field"], package=package, location=location(document, path),
                   rules=tuple(ScoringRule(condition=rule["condition"], points=rule["points"],
                                           location=location(document, path + ("rules", number), at_key=False))
                               for number, rule in enumerate(rules)))
