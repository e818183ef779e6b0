"""Where the files shipped with crmkit are: the standard CRM (apps/) and the plugins/ folder.

setup.cfg maps the repository's `apps/` to the package `crmkit.apps` and `plugins/` to
`crmkit.bundled_plugins`, and ships their files as package data. The import system then
finds them the same way in a checkout (an editable install points at the repository
folders) and in an installed wheel (`site-packages/crmkit/apps/`), whatever the current
directory is. Both are namespace packages (no `__init__.py`), so their folder is read
from the package's search path rather than through `importlib.resources.files`, which
Python 3.11 cannot use on a namespace package that an editable install provides.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

APPS_PACKAGE = "crmkit.apps"
PLUGINS_PACKAGE = "crmkit.bundled_plugins"
DEFAULT_CRM = "default_crm"
PACKAGE_SUFFIXES = (".yaml", ".yml", ".json")


def shipped_folder(package: str) -> Path | None:
    """The folder of the data package `package` (APPS_PACKAGE or PLUGINS_PACKAGE), or None
    when this installation of crmkit does not have it."""
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        return None
    for entry in (spec.submodule_search_locations or []) if spec is not None else []:
        if Path(entry).is_dir():
            return Path(entry)
    return None


def shipped_plugins_dir() -> Path | None:
    """The folder of the plugins shipped with crmkit (`plugins/` in the repository)."""
    return shipped_folder(PLUGINS_PACKAGE)


def shipped_package(name: str) -> Path | None:
    """The metadata package called `name` (a file or folder stem) shipped in `apps/`, or None."""
    folder = shipped_folder(APPS_PACKAGE)
    if folder is None or not name or Path(name).name != name:
        return None
    for candidate in (folder / name, *(folder / f"{name}{suffix}" for suffix in PACKAGE_SUFFIXES)):
        if candidate.exists():
            return candidate
    return None


def default_crm_path() -> Path:
    """The standard CRM package file. Raises FileNotFoundError when crmkit was installed
    without its package data (an incomplete build)."""
    found = shipped_package(DEFAULT_CRM)
    if found is None:
        raise FileNotFoundError(
            f"the standard CRM ({APPS_PACKAGE}/{DEFAULT_CRM}.yaml) is not installed with crmkit; "
            "reinstall crmkit from a complete wheel or checkout")
    return found
