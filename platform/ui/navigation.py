"""The navigation: one app per installed package, one tab per object the user may read.

The metadata has no apps, tabs or icons of its own yet, so they are derived: a package is
an app (its label), and its objects, in the order the package declares them, are its tabs
(plural labels). An object is shown when the engine's access policy grants `read` on it;
the engine still checks every request, the navigation only leaves out what would refuse.

A **detail object** is no tab: one with a required lookup that cascades on delete
(`required: true`, `on_delete: cascade`) to another object, its master, whose layout lists it
as a related list through that lookup (a quote's line items). Its records only exist inside
a master's, so they are reached from the master's detail page (`detail_master`). When the
user may not read the master, the detail object is a tab after all (nothing else leads to it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable
from weakref import WeakKeyDictionary

from crmkit.engine.context import UserContext
from crmkit.metadata.model import Label

if TYPE_CHECKING:
    from crmkit.engine.security.access import AccessPolicy
    from crmkit.metadata.registry import Registry


@dataclass(frozen=True)
class Tab:
    """One object in the navigation: its name (the URL's `/o/<object>`) and labels."""

    object: str
    label: Label
    plural_label: Label


@dataclass(frozen=True)
class App:
    """One installed package as a group of tabs."""

    package: str
    label: Label
    tabs: tuple[Tab, ...]


def may_read(context: UserContext, object_name: str) -> bool:
    """Whether the engine's policy grants read on the object (the system context reads everything)."""
    policy = context.policy
    return policy is None or policy.can(object_name, "read")


#: The navigation of each compiled set of rights: Crm.as_user reuses a user's AccessPolicy
#: until their rights or the metadata change, and a changed one is a new object (a new entry).
_BUILT: "WeakKeyDictionary[AccessPolicy, tuple[App, ...]]" = WeakKeyDictionary()


def navigation(context: UserContext) -> tuple[App, ...]:
    """The apps with at least one readable object, in the registry's package order (dependencies first).

    Built once per compiled set of rights (the user's AccessPolicy, which belongs to one
    version of the metadata) and kept while that lives.
    """
    context.refresh_rights()
    policy = context.policy
    if policy is None:
        return _build(context)
    built = _BUILT.get(policy)
    if built is None:
        built = _BUILT[policy] = _build(context)
    return built


def _build(context: UserContext) -> tuple[App, ...]:
    return build_apps(context.runtime.registry, lambda name: may_read(context, name))


def build_apps(registry: "Registry", readable: Callable[[str], bool]) -> tuple[App, ...]:
    """The apps and their tabs for a user who may read the objects `readable(name)` says, detail
    objects left out when their master is readable; apps without a tab are left out."""
    apps = []
    for package in registry.packages.values():
        tabs = []
        for name in package.objects:
            if name not in registry.objects or not readable(name):
                continue
            master = detail_master(registry, name)
            if master is not None and readable(master):
                continue  # reached from the master's related list
            obj = registry.objects[name]
            tabs.append(Tab(name, obj.label, obj.plural_label))
        if tabs:
            apps.append(App(package.name, package.label or Label.of(package.name), tuple(tabs)))
    return tuple(apps)


def detail_master(registry: "Registry", name: str) -> str | None:
    """The master object of the detail object `name`, or None when it is none.

    `name` is a detail of `master` when one of its lookups is required, cascades on delete and
    points at `master` (another object), and `master`'s layout shows `name` as a related list
    through that lookup: deleting the master deletes its details, and its detail page is where
    they are listed and created ("New" prefills the lookup).
        detail_master(registry, "quote_line")   # "quote"
        detail_master(registry, "contact")      # None: its account lookup is not required
    """
    obj = registry.objects[name]
    for fdef in obj.fields.values():
        if not (fdef.type == "lookup" and fdef.required and fdef.on_delete == "cascade" and fdef.to
                and fdef.to != name and fdef.to in registry.objects):
            continue
        related = registry.layout(fdef.to).related or ()
        if any(item.object == name and item.via == fdef.name for item in related):
            return fdef.to
    return None
