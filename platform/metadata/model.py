"""The resolved metadata model: immutable objects the engine and UI read, never write."""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from crmkit.metadata.assignment import Scoring
    from crmkit.metadata.automation import AutomationRule, StageTransitions
    from crmkit.metadata.email_templates import EmailTemplate
    from crmkit.metadata.layouts import Layout
    from crmkit.metadata.reports import DashboardDef, ReportDef

DEFAULT_LANGUAGE = "en"

#: Columns every object table has; metadata may not declare fields with these names.
SYSTEM_FIELDS = (
    "id",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "owner_id",
    "version",
    "formula_errors",
)
#: The system field holding why stored formulas of a record failed: {field name: reason}, or None.
FORMULA_ERRORS = "formula_errors"


#: What a permission set can grant on an object.
OBJECT_PERMISSIONS = ("create", "read", "edit", "delete", "view_all", "modify_all", "import", "export")
#: What a permission set can grant on the platform.
SYSTEM_PERMISSIONS = (
    "manage_users", "manage_metadata", "manage_privacy", "view_security_log", "view_all_data", "modify_all_data",
)
SHARING_MODELS = ("private", "public_read", "public_read_write", "controlled_by_parent")
DEFAULT_SHARING = "public_read_write"
ADMIN_PERMISSION_SET = "admin"


def frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class SourceLocation:
    """Where a definition was written, so later errors can point back at it."""

    file: str = "<memory>"
    line: int = 1
    column: int = 1
    path: tuple[str | int, ...] = ()


NOWHERE = SourceLocation()


@dataclass(frozen=True)
class Label:
    """User-facing text in one or more languages, e.g. {en: Account, zh: 客户}."""

    texts: Mapping[str, str] = _field(default_factory=frozen_map)

    @classmethod
    def of(cls, value: str | Mapping[str, str] | None, fallback: str = "") -> "Label":
        if value is None:
            value = fallback
        if isinstance(value, str):
            return cls(frozen_map({DEFAULT_LANGUAGE: value}))
        return cls(frozen_map(value))

    def get(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The text for `language`: exact, then its base language, then English, then any."""
        texts = self.texts
        for candidate in (language, language.split("-")[0], DEFAULT_LANGUAGE):
            if candidate in texts:
                return texts[candidate]
        return next(iter(texts.values()), "")

    def __str__(self) -> str:
        return self.get()

    def __bool__(self) -> bool:
        return bool(self.texts)


@dataclass(frozen=True)
class PicklistOption:
    value: str
    label: Label
    color: str | None = None
    inactive: bool = False


@dataclass(frozen=True)
class RollupDef:
    """Aggregate of `child_object.field` over child records whose `via` lookup points here."""

    child_object: str
    via: str
    aggregate: str
    field: str | None = None
    condition: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: Label
    package: str = ""
    help: Label = _field(default_factory=Label)
    required: bool = False
    unique: bool = False
    indexed: bool = False
    searchable: bool = False
    read_only: bool = False
    personal: bool = False
    default: Any = None
    default_expression: str | None = None
    max_length: int | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    precision: int | None = None
    scale: int | None = None
    options: tuple[PicklistOption, ...] = ()
    to: str | None = None
    on_delete: str = "set_null"
    formula: str | None = None
    returns: str | None = None
    rollup: RollupDef | None = None
    #: A formula or rollup shown as stored to everyone who may read the field itself
    #: (docs/permissions.md, "Derived values"); by default a derived value is hidden or
    #: recomputed for users who cannot read everything it is derived from.
    system_visible: bool = False
    format: str | None = None
    start: int = 1
    renamed_from: str | None = None
    #: A dependent picklist: the picklist field whose value decides which options are allowed...
    controlling_field: str | None = None
    #: ...and, per value of that field, the options allowed with it (a value not listed allows none).
    dependent_values: Mapping[str, tuple[str, ...]] = _field(default_factory=frozen_map)
    extra: Mapping[str, Any] = _field(default_factory=frozen_map)
    #: The option keys the author wrote, so inapplicable ones can be reported.
    given_options: frozenset[str] = _field(default=frozenset(), compare=False, repr=False)
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)

    @property
    def is_lookup(self) -> bool:
        return self.type == "lookup"

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(option.value for option in self.options)

    @property
    def value_type(self) -> str:
        """The type of the stored value: a formula's `returns`, otherwise the field's own type."""
        return self.returns or self.type

    def allowed_values(self, controlling_value: Any) -> tuple[str, ...]:
        """The options allowed when the controlling field holds `controlling_value` (all when independent).

        An empty controlling field allows no value; so does a controlling value the
        `dependent_values` map does not list. Options keep their declared order.
        """
        if self.controlling_field is None:
            return self.option_values
        allowed = set(self.dependent_values.get(controlling_value, ())) if controlling_value is not None else set()
        return tuple(value for value in self.option_values if value in allowed)


@dataclass(frozen=True)
class ValidationRule:
    name: str
    condition: str
    message: Label
    field: str | None = None
    on: tuple[str, ...] = ("create", "update")
    package: str = ""
    #: The author accepts that the rule reads fields permission sets protect (metadata/disclosure_checks.py).
    discloses_protected_fields: bool = False
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class IndexDef:
    fields: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class SharingRule:
    """Records matching `criteria` are shared with a role (and maybe the roles below it) or a team."""

    name: str
    criteria: Mapping[str, Any]
    role: str | None = None
    team: str | None = None
    subordinates: bool = False
    access: str = "read"
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class RoleDef:
    name: str
    label: Label
    parent: str | None = None
    package: str = ""
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class PermissionSetDef:
    name: str
    label: Label
    package: str = ""
    description: Label = _field(default_factory=Label)
    roles: tuple[str, ...] = ()
    objects: Mapping[str, frozenset[str]] = _field(default_factory=frozen_map)
    all_objects: frozenset[str] = frozenset()
    #: "object.field" -> {"read"} or {"read", "edit"}
    fields: Mapping[str, frozenset[str]] = _field(default_factory=frozen_map)
    system: frozenset[str] = frozenset()
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class ObjectDef:
    name: str
    label: Label
    plural_label: Label
    package: str
    fields: Mapping[str, FieldDef]
    description: Label = _field(default_factory=Label)
    title_field: str | None = None
    track_history: bool = False
    renamed_from: str | None = None
    validations: tuple[ValidationRule, ...] = ()
    indexes: tuple[IndexDef, ...] = ()
    default_sort: tuple[str, ...] = ()
    sharing: str = DEFAULT_SHARING
    sharing_parent: str | None = None
    sharing_rules: tuple[SharingRule, ...] = ()
    #: Automation rules, in the order they run (crmkit.metadata.automation, docs/automation.md).
    automations: "tuple[AutomationRule, ...]" = ()
    #: Stage transitions by picklist field name.
    transitions: "Mapping[str, StageTransitions]" = _field(default_factory=frozen_map)
    #: Scoring rules and the number field they keep the score in (crmkit.metadata.assignment).
    scoring: "Scoring | None" = None
    #: The layout as declared (and changed by extensions); None parts are derived (crmkit.metadata.derived_layout).
    layout: "Layout | None" = _field(default=None, compare=False)
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)
    #: Email templates by name, for send_email actions (crmkit.metadata.email_templates).
    email_templates: "Mapping[str, EmailTemplate]" = _field(default_factory=frozen_map)


@dataclass(frozen=True)
class Extension:
    """Fields, rules and indexes a package adds to another package's object."""

    object: str
    package: str
    fields: Mapping[str, FieldDef]
    validations: tuple[ValidationRule, ...] = ()
    indexes: tuple[IndexDef, ...] = ()
    automations: "tuple[AutomationRule, ...]" = ()
    transitions: "Mapping[str, StageTransitions]" = _field(default_factory=frozen_map)
    scoring: "Scoring | None" = None
    #: Layout parts this package adds or replaces (crmkit.metadata.layouts.merge_layouts).
    layout: "Layout | None" = _field(default=None, compare=False)
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)
    email_templates: "Mapping[str, EmailTemplate]" = _field(default_factory=frozen_map)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    label: Label
    description: Label = _field(default_factory=Label)
    depends_on: tuple[str, ...] = ()
    objects: Mapping[str, ObjectDef] = _field(default_factory=frozen_map)
    extends: Mapping[str, Extension] = _field(default_factory=frozen_map)
    roles: Mapping[str, RoleDef] = _field(default_factory=frozen_map)
    permission_sets: Mapping[str, PermissionSetDef] = _field(default_factory=frozen_map)
    #: Package-level automation rules (`automations:` at the top), each naming its object (package_automations.py).
    automations: tuple[Any, ...] = ()
    #: Reports and dashboards (`reports:`, `dashboards:`), by name (crmkit.metadata.reports, docs/reports.md).
    reports: "Mapping[str, ReportDef]" = _field(default_factory=frozen_map)
    dashboards: "Mapping[str, DashboardDef]" = _field(default_factory=frozen_map)
    #: The month (1-12) its fiscal year starts in, or None when the package does not say.
    fiscal_year_start_month: int | None = None
    #: The documents as written (plain data), kept so an installation can be recorded and replayed.
    documents: tuple[Mapping[str, Any], ...] = _field(default=(), compare=False, repr=False)
    files: tuple[str, ...] = _field(default=(), compare=False)
