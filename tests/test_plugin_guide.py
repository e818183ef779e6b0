"""docs/plugin-guide.md is true: its example plugin, written out file by file, passes its own tests and builds."""
from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugin-guide.md"
#: "File `path`:" then a fenced block: the whole file at that path.
FILE = re.compile(r"^File `([^`]+)`:\n\n```\w*\n(.*?)^```\n", re.S | re.M)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """The guide's files written under a fresh folder; returns the plugin's folder."""
    root = tmp_path_factory.mktemp("guide")
    files = FILE.findall(GUIDE.read_text(encoding="utf-8"))
    for path, text in files:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root / "crmkit-stars"


def test_the_guide_gives_every_file_of_its_folder_layout(example):
    written = sorted(path.relative_to(example).as_posix() for path in example.rglob("*") if path.is_file())
    assert written == ["README.md", "crmkit_stars/__init__.py", "pyproject.toml", "tests/test_stars.py"]


def test_the_example_plugins_own_tests_pass(example):
    environment = {**os.environ, "PYTHONPATH": str(example)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                             "tests"], cwd=example, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_example_builds_a_wheel_registered_in_the_crmkit_entry_point_group(example, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))",
         str(tmp_path)], cwd=example, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(tmp_path / result.stdout.strip().splitlines()[-1]) as wheel:
        assert "crmkit_stars/__init__.py" in wheel.namelist()
        (entry_points,) = [name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt")]
        parsed = configparser.ConfigParser()
        parsed.read_string(wheel.read(entry_points).decode("utf-8"))
    assert dict(parsed["crmkit"]) == {"stars": "crmkit_stars"}


def test_the_guides_hook_table_names_every_hook():
    from crmkit import hookspecs

    text = GUIDE.read_text(encoding="utf-8")
    hooks = [name for name in dir(hookspecs) if name.startswith("crmkit_")]
    assert [name for name in hooks if f"`{name}`" not in text] == []
