"""The `crmkit` command: a thin shell over engine services that turns errors into sentences."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from crmkit.engine.database import DATABASE_URL_VARIABLE, DEFAULT_DATABASE_FILE, default_database_url

DEFAULT_PACKAGE = Path(__file__).resolve().parent.parent / "apps" / "default_crm.yaml"


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Every error a user can cause is printed as sentences, never as a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

        from crmkit.engine.migrations import MigrationError
        from crmkit.engine.records import RecordError
        from crmkit.metadata.errors import MetadataError
        from crmkit.plugins import PluginError

        try:
            return command(*args, **kwargs)
        except MetadataError as error:
            for problem in error.problems:
                click.echo(problem.format(), err=True)
            count = len(error.problems)
            click.echo(f"{count} problem{'s' if count != 1 else ''} found; nothing was changed.", err=True)
            sys.exit(1)
        except (MigrationError, RecordError, PluginError) as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(1)
        except OperationalError as error:
            click.echo(f"Error: cannot use the database: {error.orig}", err=True)
            sys.exit(2)
        except SQLAlchemyError as error:
            click.echo(f"Error: the database refused the operation: {error}", err=True)
            sys.exit(2)

    return wrapper


@click.group()
@click.option("--database", "database_url", envvar=DATABASE_URL_VARIABLE, default=None, metavar="URL",
              help=f"Database URL (default: ${DATABASE_URL_VARIABLE}, else sqlite:///{DEFAULT_DATABASE_FILE}).")
@click.pass_context
def main(context: click.Context, database_url: str | None) -> None:
    """crmkit: a low-code, metadata-driven CRM platform."""
    context.obj = {"database_url": database_url or default_database_url()}


def open_crm(context: click.Context):
    from crmkit.engine import Crm

    return Crm.open(context.obj["database_url"])


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--with-installed/--alone", default=False,
              help="Also check against the packages installed in the database (for packages that depend on them).")
@click.pass_context
@friendly_errors
def validate(context: click.Context, paths: tuple[str, ...], with_installed: bool) -> None:
    """Check metadata packages: prints file:line:column: problem for each problem found."""
    from crmkit.engine.extensions import default_extensions
    from crmkit.metadata import validate_paths

    installed = []
    if with_installed:
        installed = list(open_crm(context).registry.packages.values())
    registry = validate_paths(paths, default_extensions().catalog, installed)
    names = ", ".join(f"{p.name} {p.version}" for p in registry.packages.values() if p.files)
    click.echo(f"valid: {names} ({len(registry.objects)} objects)")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--plan", "plan_only", is_flag=True, help="Show what would change, change nothing.")
@click.pass_context
@friendly_errors
def install(context: click.Context, paths: tuple[str, ...], plan_only: bool) -> None:
    """Install or upgrade metadata packages (files or folders)."""
    crm = open_crm(context)
    if plan_only:
        click.echo(crm.plan(paths).describe())
        return
    plan = crm.install(*paths)
    click.echo(plan.describe())
    installed = ", ".join(f"{p['name']} {p['version']}" for p in crm.installed_packages())
    click.echo(f"Installed: {installed}")


@main.command()
@click.option("--plan", "plan_only", is_flag=True, help="Show what would change, change nothing.")
@click.option("--purge", multiple=True, metavar="OBJECT[.FIELD]",
              help="Delete a retired object's table or a retired field's column, and its data. Repeatable.")
@click.pass_context
@friendly_errors
def migrate(context: click.Context, plan_only: bool, purge: tuple[str, ...]) -> None:
    """Bring the database in line with the installed packages' current files."""
    crm = open_crm(context)
    if plan_only:
        click.echo(crm.plan(purge=purge).describe())
        return
    click.echo(crm.migrate(purge=purge).describe())


@main.command()
@click.pass_context
@friendly_errors
def packages(context: click.Context) -> None:
    """List installed packages."""
    rows = open_crm(context).installed_packages()
    if not rows:
        click.echo("No packages are installed. Install one with: crmkit install apps/default_crm.yaml")
        return
    for row in rows:
        click.echo(f"{row['name']:<24} {row['version']:<12} installed {row['installed_at']:%Y-%m-%d %H:%M}  {row['source'] or ''}")


@main.command()
@click.option("--records", "count", default=300, show_default=True, help="About how many records to create in all.")
@click.option("--object", "objects", multiple=True, help="Only these objects (repeatable).")
@click.option("--seed", default=42, show_default=True, help="The same seed gives the same data.")
@click.pass_context
@friendly_errors
def demo(context: click.Context, count: int, objects: tuple[str, ...], seed: int) -> None:
    """Fill the installed objects with realistic demo data (English and Chinese)."""
    from crmkit.engine.demo import DemoGenerator

    crm = open_crm(context)
    generator = DemoGenerator(crm, seed=seed)
    with click.progressbar(length=count, label="Creating demo records", file=sys.stderr) as bar:
        created = generator.fill(count, objects=objects or None, progress=bar.update)
    for name, number in created.items():
        click.echo(f"{name:<24} {number:>10,}")


@main.command()
@click.option("--records", "count", default=600, show_default=True, help="How many demo records to create.")
@click.pass_context
@friendly_errors
def setup(context: click.Context, count: int) -> None:
    """Prepare instance/: install the standard CRM and fill it with demo data (once)."""
    from crmkit.engine.demo import DemoGenerator

    crm = open_crm(context)
    fresh = not crm.installed_packages()
    plan = crm.install(DEFAULT_PACKAGE)
    if not plan.is_empty:
        click.echo(plan.describe())
    if fresh:
        with click.progressbar(length=count, label="Creating demo records", file=sys.stderr) as bar:
            created = DemoGenerator(crm, seed=42).fill(count, progress=bar.update)
        click.echo(f"Demo data: {sum(created.values()):,} records in {len(created)} objects.")
    installed = ", ".join(f"{p['name']} {p['version']}" for p in crm.installed_packages())
    click.echo(f"Database: {context.obj['database_url']}")
    click.echo(f"Installed: {installed}")
    click.echo("Try: .venv/bin/crmkit packages   |   .venv/bin/crmkit demo --records 1000")


if __name__ == "__main__":
    main()
