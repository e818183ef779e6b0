"""One plugin manager: the built-in plugins, entry-point plugins and the plugins/ folder
(shipped with crmkit as `crmkit.bundled_plugins`, see `crmkit.shipped`)."""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import pluggy

from crmkit import hookspecs
from crmkit.shipped import shipped_plugins_dir
from crmkit.errors import CrmkitError

#: Built-in behaviour registered through the same hooks plugins use.
DEFAULT_PLUGINS = (
    "crmkit.engine.fieldtypes",
    "crmkit.engine.default_functions",
)

ENTRY_POINT_GROUP = "crmkit"
#: Set to "0" to keep installed entry-point plugins out (tests do).
LOAD_ENTRY_POINTS_VARIABLE = "CRMKIT_LOAD_ENTRY_POINTS"
PLUGIN_DIRS_VARIABLE = "CRMKIT_PLUGIN_DIRS"
#: Hooks that were renamed: the old name, and what to implement instead (docs/plugins.md).
RENAMED_HOOKS = {"crmkit_record_saved": "crmkit_after_save(context, event), called for every write"}


class PluginError(CrmkitError):
    """A plugin could not be loaded or implements a hook that does not exist."""

    status = 500
    title = "Plugin not loaded"


def make_plugin_manager(
    *, load_entry_points: bool | None = None, plugin_dirs: Iterable[str | os.PathLike] | None = None,
    extra_plugins: Iterable[Any] = (),
) -> pluggy.PluginManager:
    manager = pluggy.PluginManager("crmkit")
    manager.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(name), name=name)
    if load_entry_points is None:
        load_entry_points = os.environ.get(LOAD_ENTRY_POINTS_VARIABLE, "1") != "0"
    if load_entry_points:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    if plugin_dirs is None:
        configured = os.environ.get(PLUGIN_DIRS_VARIABLE)
        if configured is None:
            shipped = shipped_plugins_dir()
            plugin_dirs = [shipped] if shipped is not None else []
        else:
            plugin_dirs = [directory for directory in configured.split(os.pathsep) if directory]
    for directory in plugin_dirs:
        for module in _folder_plugins(Path(directory)):
            manager.register(module, name=f"plugins:{module.__name__}")
    for plugin in extra_plugins:
        manager.register(plugin)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        hint = next((f" {old} was replaced by {new}." for old, new in RENAMED_HOOKS.items() if old in str(error)), "")
        raise PluginError(f"{error}. Check the hook's name against crmkit.hookspecs.{hint}") from None
    return manager


def _folder_plugins(directory: Path) -> list[Any]:
    """Each `plugins/NAME.py` or `plugins/NAME/__init__.py` is a plugin module."""
    if not directory.is_dir():
        return []
    modules = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        target = path / "__init__.py" if path.is_dir() else path
        if target.suffix != ".py" or not target.exists():
            continue
        name = f"crmkit_plugin_{path.stem}"
        if name in sys.modules:
            modules.append(sys.modules[name])
            continue
        spec = importlib.util.spec_from_file_location(name, target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # a broken plugin must say which file broke
            del sys.modules[name]
            raise PluginError(f"the plugin {target} failed to load: {error}") from error
        modules.append(module)
    return modules


@lru_cache(maxsize=1)
def default_plugin_manager() -> pluggy.PluginManager:
    return make_plugin_manager()


def add_api_routes(blueprint: Any, manager: pluggy.PluginManager | None = None) -> None:
    """Let plugins add endpoints to the REST API's `blueprint` (crmkit_api_routes), before it is registered.

    The API layer calls this with its Flask blueprint and the plugin manager of its Crm
    (`crm.extensions.plugin_manager`; default: the default plugin manager)."""
    (manager or default_plugin_manager()).hook.crmkit_api_routes(blueprint=blueprint)
