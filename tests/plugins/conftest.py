"""The plugins shipped as their own distributions in plugins/<name>/ (each installable with pip).

Their packages are imported from their folders (the suite does not install them), and a
Crm is opened with the plugin registered as its entry point would register it.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
#: Each distribution's folder and the import package its `crmkit` entry point names.
DISTRIBUTIONS = {"phone_numbers": "crmkit_phone_numbers", "cn_address": "crmkit_cn_address",
                 "leaderboard": "crmkit_leaderboard"}


def plugin_module(folder: str) -> ModuleType:
    """The import package of plugins/`folder`, imported from the repository."""
    path = str(PLUGINS / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(DISTRIBUTIONS[folder])


@pytest.fixture
def crm_with(database_url, write_package) -> Iterator[Callable[..., object]]:
    """crm_with(module, package_yaml) -> a Crm of the test's database with the plugin module and the package."""
    from crmkit.engine import Crm
    from crmkit.engine.extensions import Extensions
    from crmkit.plugins import make_plugin_manager

    opened = []

    def open_with(module: ModuleType, package: str):
        extensions = Extensions.from_plugins(make_plugin_manager(load_entry_points=False, extra_plugins=[module]))
        crm = Crm.open(database_url, extensions=extensions)
        opened.append(crm)
        crm.install(write_package(package))
        return crm

    yield open_with
    for crm in opened:
        crm.close()
