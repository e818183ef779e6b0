"""The vendored browser libraries are exactly the pinned npm files, recorded with their licences."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
STATIC = REPOSITORY / "platform" / "ui" / "static"
TEMPLATES = REPOSITORY / "platform" / "ui" / "templates"


def vendor_script():
    spec = importlib.util.spec_from_file_location("vendor_static", REPOSITORY / "scripts" / "vendor_static.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vendor_static", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_vendored_files_match_the_record_and_the_pins():
    assert vendor_script().check() == []


def test_the_record_names_version_licence_and_files_of_each_library():
    record = {entry["name"]: entry for entry in json.loads((STATIC / "vendor" / "VENDORED.json").read_text())}
    assert set(record) == {"htmx.org", "bootstrap", "tom-select", "sortablejs", "echarts", "axe-core"}
    assert record["htmx.org"]["version"].startswith("2.0.")
    assert record["bootstrap"]["version"].startswith("5.3.")
    assert record["tom-select"]["version"].startswith("2.6.")
    assert record["sortablejs"]["version"].startswith("1.15.")
    assert record["echarts"]["version"].startswith("6.")
    assert set(record["echarts"]["files"]) == {"echarts/echarts.min.js", "echarts/LICENSE", "echarts/NOTICE"}
    for entry in record.values():
        assert entry["licence"] and entry["integrity"].startswith("sha512-")
        assert any(name.endswith("/LICENSE") for name in entry["files"]), entry["name"]


def test_a_changed_vendored_file_is_reported(tmp_path):
    import shutil

    copy = tmp_path / "vendor"
    shutil.copytree(STATIC / "vendor", copy)
    (copy / "htmx" / "htmx.min.js").write_text("alert('changed')")
    (copy / "stray.js").write_text("")
    problems = vendor_script().check(copy)
    assert "htmx/htmx.min.js differs from the file vendored from htmx.org 2.0.11" in problems
    assert "stray.js is not recorded in VENDORED.json" in problems


def test_every_file_a_template_loads_exists_and_no_page_loads_a_cdn():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), template
        for name in re.findall(r"url_for\('static', filename='([^']+)'\)", text):
            assert (STATIC / name).is_file(), f"{template.name} loads {name}, which is missing"
