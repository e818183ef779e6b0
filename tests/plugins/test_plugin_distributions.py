"""Each plugins/NAME/ with a pyproject.toml installs with pip on its own and registers through the `crmkit` entry point.

The wheel is built offline with the pinned build backend (as tests/test_packaging.py builds
crmkit's), from a copy of the folder, and read: what `pip install ./plugins/NAME` would install.
"""
from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

from crmkit.plugins import make_plugin_manager
from tests.plugins.conftest import DISTRIBUTIONS, PLUGINS, plugin_module

#: Files besides Python modules each wheel must carry.
DATA = {"cn_address": ["crmkit_cn_address/regions.tsv"], "leaderboard": ["crmkit_leaderboard/leaderboard.js"],
        "phone_numbers": []}


def test_every_plugin_folder_with_a_pyproject_is_tested_here():
    assert sorted(path.parent.name for path in PLUGINS.glob("*/pyproject.toml")) == sorted(DISTRIBUTIONS)


@pytest.fixture(scope="module", params=sorted(DISTRIBUTIONS))
def wheel(request, tmp_path_factory) -> tuple[str, zipfile.ZipFile]:
    folder = request.param
    source = tmp_path_factory.mktemp(folder) / folder
    shutil.copytree(PLUGINS / folder, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))",
         str(dist)], cwd=source, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    built = zipfile.ZipFile(dist / result.stdout.strip().splitlines()[-1])
    yield folder, built
    built.close()


def dist_info(archive: zipfile.ZipFile, name: str) -> str:
    (path,) = [item for item in archive.namelist() if item.endswith(f".dist-info/{name}")]
    return archive.read(path).decode("utf-8")


def test_the_wheel_carries_the_package_its_data_readme_and_crmkit_entry_point(wheel):
    folder, archive = wheel
    package = DISTRIBUTIONS[folder]
    names = set(archive.namelist())
    modules = {path.relative_to(PLUGINS / folder).as_posix() for path in (PLUGINS / folder / package).rglob("*.py")}
    assert modules | set(DATA[folder]) <= names
    entry_points = configparser.ConfigParser()
    entry_points.read_string(dist_info(archive, "entry_points.txt"))
    assert dict(entry_points["crmkit"]) == {folder: package}
    metadata = dist_info(archive, "METADATA")
    assert "Requires-Dist: crmkit" in metadata
    assert (PLUGINS / folder / "README.md").read_text(encoding="utf-8").splitlines()[0] in metadata


def test_the_entry_point_names_a_module_whose_hooks_crmkit_accepts(wheel):
    folder, _ = wheel
    project = tomllib.loads((PLUGINS / folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    target = project["entry-points"]["crmkit"][folder]
    module = plugin_module(folder)
    assert module.__name__ == target
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[module])
    assert manager.is_registered(module)


def test_the_phone_plugin_declares_its_phone_library():
    project = tomllib.loads((PLUGINS / "phone_numbers" / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(requirement.startswith("phonenumberslite") for requirement in project["dependencies"])


def test_the_plugins_folder_loads_no_distribution_as_a_folder_plugin():
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[PLUGINS])
    names = {name for name, _ in manager.list_name_plugin()}
    assert "plugins:crmkit_plugin_china_fields" in names
    assert not {name for name in names if any(folder in name for folder in DISTRIBUTIONS)}
