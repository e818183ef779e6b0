"""The repository layout keeps its promises: no stdlib shadowing, layers import leftwards only."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE = REPOSITORY / "platform"


def test_platform_folder_has_no_init_file():
    assert not (SOURCE / "__init__.py").exists(), "platform/__init__.py would shadow the standard library"


def test_python_from_the_repository_root_sees_the_standard_platform_module():
    result = subprocess.run(
        [sys.executable, "-c", "import platform, uuid; print(platform.system()); import crmkit.engine"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {"Linux", "Darwin", "Windows"}


def test_python_dash_m_pytest_runs_from_the_repository_root():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_layout.py"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


LAYER_RULES = {
    "metadata": {"crmkit.engine", "crmkit.ui", "crmkit.api", "crmkit.cli", "sqlalchemy", "flask"},
    "sandbox": {"crmkit.metadata", "crmkit.engine", "crmkit.ui", "crmkit.api", "crmkit.cli", "sqlalchemy", "flask"},
    "engine": {"crmkit.demo", "crmkit.ui", "crmkit.api", "crmkit.cli", "flask"},
    "demo": {"crmkit.ui", "crmkit.api", "crmkit.cli", "flask"},
    "ui": {"crmkit.cli", "crmkit.demo", "sqlalchemy"},
    # The REST API: a shell over the engine beside the web UI (create_app registers it), never using the UI.
    "api": {"crmkit.ui", "crmkit.cli", "crmkit.demo", "sqlalchemy"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(LAYER_RULES))
def test_layers_import_only_to_their_left(layer):
    forbidden = LAYER_RULES[layer]
    offenders = []
    for path in (SOURCE / layer).rglob("*.py"):
        for name in imports_of(path):
            if any(name == banned or name.startswith(banned + ".") for banned in forbidden):
                offenders.append(f"{path.relative_to(REPOSITORY)} imports {name}")
    assert offenders == []


def test_the_error_base_is_importable_by_every_layer_and_imports_nothing_of_crmkit():
    """crmkit.errors sits below the sandbox: every layer's errors derive from its CrmkitError."""
    names = imports_of(SOURCE / "errors.py")
    assert [name for name in names if name == "crmkit" or name.startswith("crmkit.")] == []
    for layer, forbidden in LAYER_RULES.items():
        assert not any("crmkit.errors" == banned or "crmkit.errors".startswith(banned + ".") for banned in forbidden), layer


def test_no_eval_or_exec_outside_the_sandbox():
    offenders = []
    for path in SOURCE.rglob("*.py"):
        if path.is_relative_to(SOURCE / "sandbox"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"eval", "exec"}:
                offenders.append(f"{path.relative_to(REPOSITORY)}:{node.lineno}")
    assert offenders == []


def test_the_code_passes_ruff_including_the_stdlib_shadowing_rule():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "platform",
                             "plugins", "benchmarks", "tests"], cwd=REPOSITORY, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
