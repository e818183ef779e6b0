"""The navigation: one app per installed package, one tab per object the user may read.

The metadata has no apps, tabs or icons of its own yet, so they are derived: a package is
an app (its label), and its objects, in the order the package declares them, are its tabs
(plural labels). An object is shown when the engine's access policy grants `read` on it;
the engine still checks every request, the navigation only leaves out what would refuse.
"""
from __future__ import annotations

from dataclasses import dataclass

from crmkit.engine.context import UserContext
from crmkit.metadata.model import Label


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


def navigation(context: UserContext) -> tuple[App, ...]:
    """The apps with at least one readable object, in the registry's package order (dependencies first)."""
    context.refresh_rights()
    registry = context.runtime.registry
    apps = []
    for package in registry.packages.values():
        tabs = tuple(Tab(name, registry.objects[name].label, registry.objects[name].plural_label)
                     for name in package.objects if name in registry.objects and may_read(context, name))
        if tabs:
            apps.append(App(package.name, package.label or Label.of(package.name), tabs))
    return tuple(apps)
