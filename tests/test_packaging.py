"""An installed crmkit is complete: a wheel carries the schemas, the standard CRM and the
shipped plugins, and finds them without the checkout (run from another folder)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "platform", "apps", "plugins")
DATA_FOLDERS = {"apps": "crmkit/apps", "plugins": "crmkit/bundled_plugins",
                "platform/metadata/schemas": "crmkit/metadata/schemas",
                "platform/ui/templates": "crmkit/ui/templates", "platform/ui/static": "crmkit/ui/static",
                "platform/ui/translations": "crmkit/ui/translations"}


def plugin_distributions() -> list[Path]:
    """plugins/NAME/ folders with a pyproject.toml: distributions of their own (pip install ./plugins/NAME)."""
    return sorted(path.parent for path in (REPOSITORY / "plugins").glob("*/pyproject.toml"))


def shipped_files(folder: str) -> set[str]:
    root = REPOSITORY / folder
    own = [distribution.relative_to(root) for distribution in plugin_distributions() if distribution.is_relative_to(root)]
    return {path.relative_to(root).as_posix() for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
            and not any(path.relative_to(root).is_relative_to(distribution) for distribution in own)}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the wheel, what the build printed), built offline from a copy of the sources."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPOSITORY / name).is_dir():
            shutil.copytree(REPOSITORY / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPOSITORY / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; "
         "print(build_meta.build_wheel(sys.argv[1]))", str(dist)],
        cwd=source, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return dist / result.stdout.strip().splitlines()[-1], result.stdout + result.stderr


def test_the_wheel_carries_the_schemas_the_standard_crm_the_plugins_and_the_web_ui_files(built: tuple[Path, str]) -> None:
    wheel, _ = built
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, target in DATA_FOLDERS.items():
        expected = shipped_files(folder)
        assert expected, f"{folder} is empty"
        missing = {f"{target}/{name}" for name in expected} - names
        assert missing == set(), f"missing from the wheel: {sorted(missing)}"


def test_the_plugin_distributions_in_plugins_are_not_inside_crmkits_wheel(built: tuple[Path, str]) -> None:
    wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    assert len(plugin_distributions()) >= 3
    for distribution in plugin_distributions():
        assert not [name for name in names if name.startswith(f"crmkit/bundled_plugins/{distribution.name}/")]


def test_the_build_warns_about_no_missing_package(built: tuple[Path, str]) -> None:
    _, output = built
    assert "absent from the `packages` configuration" not in output


def test_an_installed_wheel_sets_up_the_standard_crm_from_another_folder(
        built: tuple[Path, str], tmp_path: Path) -> None:
    wheel, _ = built
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # -S: no site-packages processing, so the checkout's editable install stays out; the
    # libraries crmkit needs come from this environment's site-packages, crmkit from the wheel.
    libraries = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), *sorted(libraries)])}
    environment.pop("CRMKIT_PLUGIN_DIRS", None)
    script = (
        "import sys\n"
        "from crmkit.shipped import default_crm_path, shipped_plugins_dir\n"
        "from crmkit.plugins import make_plugin_manager\n"
        "print(default_crm_path()); print(shipped_plugins_dir())\n"
        "print(sorted(name for name, _ in make_plugin_manager().list_name_plugin()))\n"
        "from crmkit.cli import main\n"
        "main(sys.argv[1:])\n")
    result = subprocess.run(
        [sys.executable, "-S", "-c", script, "--database", f"sqlite:///{tmp_path / 'crm.db'}",
         "install", "default_crm"],
        cwd=elsewhere, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(installed / "crmkit" / "apps" / "default_crm.yaml")
    assert lines[1] == str(installed / "crmkit" / "bundled_plugins")
    assert "plugins:crmkit_plugin_china_fields" in lines[2]
    assert lines[-1] == "Installed: default_crm 1.0.0"


def test_an_installed_wheel_serves_the_web_ui_in_chinese_from_another_folder(
        built: tuple[Path, str], tmp_path: Path) -> None:
    wheel, _ = built
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    libraries = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), *sorted(libraries)]),
                   "CRMKIT_SECRET_KEY": "a-secret-key-for-the-packaging-test-only-0123456789"}
    script = (
        "import sys\n"
        "from crmkit.engine import Crm\n"
        "from crmkit.ui import create_app\n"
        "import crmkit.ui\n"
        "print(crmkit.ui.__file__)\n"
        "app = create_app(Crm.open(sys.argv[1]))\n"
        "client = app.test_client()\n"
        "page = client.get('/login', headers={'Accept-Language': 'zh-CN'}).get_data(as_text=True)\n"
        "print('登录' in page, 'name=\"username\"' in page)\n"
        "with client.get('/static/vendor/htmx/htmx.min.js') as response:\n"
        "    print(response.status_code)\n")
    result = subprocess.run([sys.executable, "-S", "-c", script, f"sqlite:///{tmp_path / 'crm.db'}"],
                            cwd=elsewhere, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(str(installed))
    assert lines[1:] == ["True True", "200"]
