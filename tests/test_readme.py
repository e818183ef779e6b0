"""The README stays true: its Python example runs as written."""
from __future__ import annotations

import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def python_blocks() -> list[str]:
    text = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_python_api_example_runs(tmp_path, monkeypatch):
    (example,) = python_blocks()
    monkeypatch.chdir(tmp_path)  # the shipped package is found by name from any folder
    database = f"sqlite:///{tmp_path / 'readme.db'}"
    code = example.replace('Crm.open("sqlite:///instance/crmkit.db")', f'Crm.open("{database}")')
    assert code != example, "the README example no longer opens instance/crmkit.db"
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the README's own example, run as documentation
    session, acme = namespace["session"], namespace["acme"]
    assert acme["rating"] == "Hot" and acme["owner_id"] == namespace["zhou"].id
    assert session.records("lead").get(namespace["lead"].id)["last_name"] == "Zhou"
