"""newuser14 (issue 12, outside check as an integrator): docs/cli.md taken as written."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from crmkit.cli import main

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.xfail(strict=True, reason=(
    "newuser14: docs/cli.md opens with 'Every command takes `--database URL`', so an integrator writes "
    "`crmkit install PATH --database URL` or `crmkit import contact f.xlsx --database URL`; both exit 2 with "
    "\"Error: No such option '--database'\": it is an option of `crmkit` itself, accepted only before the command "
    "(as README.md's example has it), which docs/cli.md does not say"))
def test_the_database_option_works_where_docs_cli_puts_it_after_the_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    result = CliRunner().invoke(main, ["packages", "--database", url], catch_exceptions=False)
    first_paragraph = (REPOSITORY / "docs" / "cli.md").read_text(encoding="utf-8").split("\n\n")[1]
    # Fixed either way: the option is taken after the command too, or the docs say where it goes.
    assert "No such option" not in result.output or "crmkit --database" in first_paragraph, result.output
