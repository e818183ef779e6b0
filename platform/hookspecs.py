"""The hooks plugins implement. Built-in field types, helper functions and packages use them too."""
from __future__ import annotations

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("crmkit")
hookimpl = HookimplMarker("crmkit")


@hookspec
def crmkit_field_types():
    """Return a list of crmkit.engine.fieldtypes.FieldType objects this plugin adds."""


@hookspec
def crmkit_sandbox_functions():
    """Return a dict of name -> callable made available to formulas, defaults and conditions."""


@hookspec
def crmkit_metadata_packages():
    """Return a list of paths to metadata packages (files or folders) this plugin ships."""


@hookspec
def crmkit_record_saved(context, obj, record, previous, operation):
    """Called inside the save transaction after a record is written (operation: create, update, delete, restore)."""
