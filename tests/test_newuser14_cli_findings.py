"""newuser14 (issue 12, outside check as an integrator): docs/cli.md taken as written."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from crmkit.cli import main

REPOSITORY = Path(__file__).resolve().parent.parent


def test_the_database_option_works_where_docs_cli_puts_it_after_the_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    result = CliRunner().invoke(main, ["packages", "--database", url], catch_exceptions=False)
    first_paragraph = (REPOSITORY / "docs" / "cli.md").read_text(encoding="utf-8").split("\n\n")[1]
    # Fixed either way: the option is taken after the command too, or the docs say where it goes.
    assert "No such option" not in result.output or "crmkit --database" in first_paragraph, result.output


def test_the_database_option_after_a_subcommand_of_a_group_names_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path / 'first.db'}", "user", "list",
                                       "--database", url])
    assert "No such option" not in result.output, result.output
    assert "elsewhere.db" in result.output and "first.db" not in result.output, result.output  # no database there
