"""The navigation: one app per installed package, one tab per object the user may read.

The metadata has no apps, tabs or icons of its own yet, so they are derived: a package is
an app (its label), and its objects, in the order the package declares them, are its tabs
(plural labels). An object is shown when the engine's access policy grants `read` on it;
the engine still checks every request, the navigation only leaves out what would refuse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from crmkit.engine.context import UserContext
from crmkit.metadata.model import Label

if TYPE_CHECKING:
    from crmkit.engine.security.access import AccessPolicy


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
    registry = context.runtime.registry
    apps = []
    for package in registry.packages.values():
        tabs = tuple(Tab(name, registry.objects[name].label, registry.objects[name].plural_label)
                     for name in package.objects if name in registry.objects and may_read(context, name))
        if tabs:
            apps.append(App(package.name, package.label or Label.of(package.name), tabs))
    return tuple(apps)
