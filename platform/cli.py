"""The `crmkit` command: a thin shell over engine services that turns errors into sentences."""
from __future__ import annotations

import errno
import functools
import os
import shlex
import shutil
import socket
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from crmkit.engine.database import DATABASE_URL_VARIABLE, DEFAULT_DATABASE_FILE, default_database_url
from crmkit.shipped import default_crm_path, shipped_package
from crmkit.terminal_columns import padded


def package_paths(paths: tuple[str, ...]) -> list[str]:
    """Each path as given, except a name such as `default_crm` that is no file or folder here
    but a package shipped with crmkit (apps/): that package's file."""
    resolved = []
    for path in paths:
        shipped = None if Path(path).exists() else shipped_package(path)
        resolved.append(str(shipped) if shipped is not None else path)
    return resolved


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Every error a user can cause is printed as sentences, never as a traceback.

    Exit status: 0 done, 1 a mistake in the request or the metadata (a CrmkitError), 2 the
    database cannot be used (missing, unreachable, busy: a DatabaseError).
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        from crmkit.engine.database import DatabaseError
        from crmkit.errors import CrmkitError
        from crmkit.metadata.errors import MetadataError

        try:
            return command(*args, **kwargs)
        except MetadataError as error:
            for problem in error.problems:
                click.echo(problem.format(), err=True)
            count = len(error.problems)
            changed = "" if command.__name__ == "validate" else "; nothing was changed"
            click.echo(f"{count} problem{'s' if count != 1 else ''} found{changed}.", err=True)
            if getattr(error, "hint", None):
                click.echo(f"Hint: {error.hint}", err=True)
            sys.exit(1)
        except DatabaseError as error:
            click.echo(f"Error: {error.message}", err=True)
            sys.exit(2)
        except CrmkitError as error:
            click.echo(f"Error: {error.message}", err=True)
            sys.exit(1)
        except SQLAlchemyError as error:  # a refusal the engine does not translate yet: the reason, not the SQL
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            click.echo(f"Error: the database refused the operation ({reason}); nothing was changed.", err=True)
            sys.exit(2)

    return wrapper


class PluginCommands(click.Group):
    """The `crmkit` group: its own commands, and those plugins add (crmkit_cli_commands, docs/plugins.md).

    Plugins are asked once, on the first name that is not a built-in command or when the
    commands are listed (`crmkit --help`), so a built-in command starts without them.
    """

    def __init__(self, *args: Any, plugin_manager: Callable[[], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plugin_manager = plugin_manager
        self._plugins_asked = False

    def _ask_plugins(self) -> None:
        if self._plugins_asked:
            return
        self._plugins_asked = True
        if self._plugin_manager is None:
            from crmkit.plugins import default_plugin_manager

            self._plugin_manager = default_plugin_manager
        self._plugin_manager().hook.crmkit_cli_commands(cli=self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._plugins_asked:
            self._ask_plugins()
            command = super().get_command(ctx, cmd_name)
        if command is not None:
            take_database_option(command)
        return command


def _database_after_command(context: click.Context, parameter: click.Parameter, value: str | None) -> None:
    if value is not None:
        context.find_root().obj["database_url"] = value


def take_database_option(command: click.Command) -> None:
    """`--database URL` after the command too (`crmkit install PATH --database URL`, docs/cli.md), for every
    command and subcommand, plugins' included: it replaces the one given before the command, if any."""
    if not any(isinstance(parameter, click.Option) and "--database" in parameter.opts for parameter in command.params):
        command.params.append(click.Option(
            ["--database"], expose_value=False, callback=_database_after_command, metavar="URL",
            help="Database URL, as `crmkit --database URL` (default: $CRMKIT_DATABASE_URL, else the SQLite file)."))
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            take_database_option(subcommand)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._ask_plugins()
        return super().list_commands(ctx)


@click.group(cls=PluginCommands)
@click.option("--database", "database_url", envvar=DATABASE_URL_VARIABLE, default=None, metavar="URL",
              help=f"Database URL (default: ${DATABASE_URL_VARIABLE}, else sqlite:///{DEFAULT_DATABASE_FILE}).")
@click.pass_context
def main(context: click.Context, database_url: str | None) -> None:
    """crmkit: a low-code, metadata-driven CRM platform."""
    context.obj = {"database_url": database_url or default_database_url()}


def command_prefix(context: click.Context) -> str:
    """How to run crmkit again as the user just did: the program as invoked, and --database unless default."""
    program = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "crmkit" else "crmkit"
    on_path = shutil.which("crmkit")
    if on_path and Path(on_path).resolve() == Path(program).resolve():
        program = "crmkit"
    elif Path(program).is_absolute() and Path(program).is_relative_to(Path.cwd()):
        program = str(Path(program).relative_to(Path.cwd()))
    words = [program]
    if context.obj["database_url"] != default_database_url():
        words += ["--database", context.obj["database_url"]]
    return shlex.join(words)


def open_crm(context: click.Context, *, create: bool = False):
    """The Crm of --database. Only commands that install (setup, install) create a new database;
    the others say there is none (NoDatabase) instead of quietly making an empty one."""
    from crmkit.engine import Crm

    crm = Crm.open(context.obj["database_url"], create=create)
    context.call_on_close(crm.close)  # its connections end with the command (a refused one too), not at exit
    return crm


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
    from crmkit.metadata.errors import MetadataError
    from crmkit.metadata.security_checks import system_visible_notes

    installed = []
    if with_installed:
        installed = list(open_crm(context).registry.packages.values())
    try:
        registry = validate_paths(package_paths(paths), default_extensions().catalog, installed)
    except MetadataError as error:
        if not with_installed and any("which is not installed or given" in p.message for p in error.problems):
            error.hint = ("a package that depends on packages installed in the database is checked against "
                          "them with --with-installed.")
        raise
    for note in system_visible_notes(registry.objects):
        click.echo(note)
    names = ", ".join(f"{p.name} {p.version}" for p in registry.packages.values() if p.files)
    click.echo(f"valid: {names} ({len(registry.objects)} objects)")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--plan", "plan_only", is_flag=True, help="Show what would change, change nothing.")
@click.pass_context
@friendly_errors
def install(context: click.Context, paths: tuple[str, ...], plan_only: bool) -> None:
    """Install or upgrade metadata packages (files or folders; `default_crm` is the standard CRM).

    --plan exits 3 if the plan has refused steps."""
    paths = tuple(package_paths(paths))
    if plan_only:
        show_plan(plan_for_install(context, paths))
        return
    crm = open_for_install(context, paths)
    plan = crm.install(*paths, progress=search_progress())
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
        show_plan(crm.plan(purge=purge))
        return
    click.echo(crm.migrate(purge=purge, progress=search_progress()).describe())


def search_progress():
    """A progress callback: a line on stderr each time building a search index passes another tenth of its records."""
    shown: dict[str, int] = {}

    def report(object_name: str, done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if shown.get(object_name) != tenth:
            shown[object_name] = tenth
            click.echo(f"Indexing {object_name} for search: {done:,} of {total:,} records", err=True)

    return report


#: Exit status of `install --plan` / `migrate --plan` when the plan has refused steps.
PLAN_REFUSED_EXIT = 3


def plan_for_install(context: click.Context, paths: tuple[str, ...]):
    """The plan against the database, or against an empty one when there is none yet (nothing is created)."""
    from crmkit.engine.database import NoDatabase

    try:
        return open_crm(context).plan(paths)
    except NoDatabase as error:
        if not error.install_creates:
            raise
        plan = plan_for_empty_database(paths)
        click.echo(f"There is no crmkit database at {context.obj['database_url']} yet; installing would create it "
                   "and then:")
        return plan


def open_for_install(context: click.Context, paths: tuple[str, ...]):
    """The Crm to install into; a new database is created only once the packages are known to be valid."""
    from crmkit.engine.database import NoDatabase

    try:
        return open_crm(context)
    except NoDatabase as error:
        if not error.install_creates:
            raise
    plan_for_empty_database(paths)  # MetadataError (nothing created) when a package has problems
    return open_crm(context, create=True)


def plan_for_empty_database(paths: tuple[str, ...]):
    from crmkit.engine import Crm

    empty = Crm.open("sqlite://")
    try:
        return empty.plan(paths)
    finally:
        empty.close()


def show_plan(plan) -> None:
    """Print the plan; a plan with refused steps is an error (exit 3) so scripts do not go on."""
    click.echo(plan.describe())
    refused = plan.blocked
    if refused:
        count = len(refused)
        click.echo(f"Error: {count} step{'s' if count != 1 else ''} of this plan {'are' if count != 1 else 'is'} "
                   "REFUSED (see above); installing it would change nothing. Fix the records or the metadata "
                   "first.", err=True)
        sys.exit(PLAN_REFUSED_EXIT)


@main.command()
@click.pass_context
@friendly_errors
def packages(context: click.Context) -> None:
    """List installed packages."""
    rows = open_crm(context).installed_packages()
    if not rows:
        click.echo("No packages are installed. Install the standard CRM with: crmkit install default_crm")
        return
    for row in rows:
        click.echo(f"{padded(row['name'], 24)} {padded(row['version'], 12)} installed {row['installed_at']:%Y-%m-%d %H:%M}  {row['source'] or ''}")


#: The most demo records one command creates (about half an hour on SQLite); a bench fills more its own way.
MAX_DEMO_RECORDS = 1_000_000


@main.command()
@click.option("--records", "count", default=300, show_default=True, type=click.IntRange(min=1, max=MAX_DEMO_RECORDS),
              help="About how many records to create in all.")
@click.option("--object", "objects", multiple=True, help="Only these objects (repeatable).")
@click.option("--seed", default=42, show_default=True, help="The same seed gives the same data.")
@click.pass_context
@friendly_errors
def demo(context: click.Context, count: int, objects: tuple[str, ...], seed: int) -> None:
    """Fill the installed objects with realistic demo data (English and Chinese)."""
    from crmkit.demo import DemoGenerator

    crm = open_crm(context)
    generator = DemoGenerator(crm, seed=seed)
    with click.progressbar(length=count, label="Creating demo records", file=sys.stderr) as bar:
        created = generator.fill(count, objects=objects or None, progress=bar.update)
    for name, number in created.items():
        click.echo(f"{name:<24} {number:>10,}")
    _say_held_rules(generator.held_rules)


def _say_held_rules(held: Sequence[str]) -> None:
    """One line saying which automation rules the demo data did not fire (they email or call webhooks)."""
    if held:
        click.echo(f"Automation that sends email or calls webhooks was off for the demo records "
                   f"(not fired: {', '.join(held)}).")


@main.command()
@click.option("--records", "count", default=600, show_default=True, type=click.IntRange(min=0, max=MAX_DEMO_RECORDS),
              help="How many demo records to create (0: none).")
@click.pass_context
@friendly_errors
def setup(context: click.Context, count: int) -> None:
    """Prepare instance/: install the standard CRM, fill it with demo data and create the first admin (once)."""
    from crmkit.demo import DemoGenerator
    from crmkit.engine.security.users import SystemDirectory

    crm = open_crm(context, create=True)
    fresh = not crm.installed_packages() and count > 0
    try:
        standard_crm = default_crm_path()
    except FileNotFoundError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    plan = crm.install(standard_crm)
    if not plan.is_empty:
        click.echo(plan.describe())
    first_admin = SystemDirectory(crm).create_first_admin()
    if fresh:
        from crmkit.demo.users import demo_owners

        people = demo_owners(crm)  # the users the package's assignment rules give records to
        owners = ([first_admin[0].id] if first_admin else []) + [person.id for person in people]
        if people:
            click.echo(f"Demo users (no password until one is set): {', '.join(p.username for p in people)}")
        generator = DemoGenerator(crm, seed=42)
        with click.progressbar(length=count, label="Creating demo records", file=sys.stderr) as bar:
            created = generator.fill(count, progress=bar.update, owners=owners)
        click.echo(f"Demo data: {sum(created.values()):,} records in {len(created)} objects.")
        _say_held_rules(generator.held_rules)
    installed = ", ".join(f"{p['name']} {p['version']}" for p in crm.installed_packages())
    click.echo(f"Database: {context.obj['database_url']}")
    click.echo(f"Installed: {installed}")
    crmkit = command_prefix(context)
    click.echo(f"Try: {crmkit} packages   |   {crmkit} user list   |   {crmkit} demo --records 1000")
    if first_admin:
        admin, password = first_admin
        click.echo(f"Administrator: {admin.username}")
        click.echo(f"Password: {password}")
        click.echo("This password will not be shown again. Change it with: "
                   f"{crmkit} user set-password --password-stdin {admin.username}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="The port.")
@click.pass_context
@friendly_errors
def serve(context: click.Context, host: str, port: int) -> None:
    """Serve the web application with the development server (production: gunicorn, see README)."""
    from crmkit.ui import create_app

    try:  # before saying where crmkit is: a port another program holds is a sentence, not a half-start
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        reason = "another program is using it" if error.errno == errno.EADDRINUSE else os.strerror(error.errno or 0)
        raise click.ClickException(f"crmkit cannot listen on {host} port {port}: {reason}. Start it on another port: "
                                   f"crmkit serve --port {port + 1 if port < 65535 else 5000} "
                                   "(or make run PORT=...).") from None
    from crmkit.engine.automation.queue import AutomationQueue

    crm = open_crm(context)
    app = create_app(crm)
    crm.queue = AutomationQueue.open(crm)
    crm.outbox.requeue()  # what a stopped server or worker left undone
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"crmkit is at http://{shown_host}:{port}/  (stop with Ctrl+C)")
    with crm.queue.embedded():  # development: automation runs in this process (production: crmkit worker)
        app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


# -- users and API tokens --------------------------------------------------------------------


def open_directory(context: click.Context):
    from crmkit.engine.security.users import SystemDirectory

    return SystemDirectory(open_crm(context))


def named_user(directory, username: str):
    from crmkit.engine.security.users import UserError

    user = directory.by_username(username)
    if user is None:
        raise UserError(f"there is no user named {username!r}.")
    return user


def read_password(password_stdin: bool) -> tuple[str, bool]:
    """The password from the first line of stdin, else a generated one; and whether it was generated."""
    from crmkit.engine.security.passwords import generate_password

    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return generate_password(), True


def show_generated_password(context: click.Context, username: str, password: str) -> None:
    """The generated password, once, and how to change it, with crmkit named as the user ran it (command_prefix)."""
    click.echo(f"Password for {username}: {password}")
    click.echo("It will not be shown again. Change it with: "
               f"{command_prefix(context)} user set-password --password-stdin {username}")


PASSWORD_STDIN = click.option("--password-stdin", is_flag=True,
                              help="Read the password from the first line of stdin instead of generating one.")


@main.group()
def user() -> None:
    """Create, list and deactivate users; set passwords; grant permission sets."""


@user.command("create")
@click.argument("username")
@click.option("--display-name", help="The name shown in the UI (default: the username).")
@click.option("--email")
@click.option("--role", help="The user's role.")
@click.option("--language", default="en", show_default=True, help="A language code: en, zh, zh-CN, de...")
@click.option("--timezone", default="UTC", show_default=True, help="A time zone name like Asia/Shanghai.")
@click.option("--permission-set", "permission_sets", multiple=True, metavar="NAME", help="Grant it (repeatable).")
@PASSWORD_STDIN
@click.pass_context
@friendly_errors
def user_create(context: click.Context, username: str, password_stdin: bool, **options: Any) -> None:
    """Create a user; prints a generated password once unless --password-stdin is given."""
    password, generated = read_password(password_stdin)
    created = open_directory(context).create_user(username, password=password, **options)
    click.echo(f"Created user {created.username} (id {created.id}).")
    if generated:
        show_generated_password(context, created.username, password)


@user.command("list")
@click.option("--active-only", is_flag=True, help="Leave out deactivated users.")
@click.pass_context
@friendly_errors
def user_list(context: click.Context, active_only: bool) -> None:
    """List users with their state, role, permission sets and last sign-in."""
    directory = open_directory(context)
    users = directory.list(active_only=active_only)
    held = directory.permission_sets_held(entry.id for entry in users)
    for entry in users:
        sets = shown_permission_sets(held[entry.id])
        last = f"{entry.last_login_at:%Y-%m-%d %H:%M}" if entry.last_login_at else "never"
        state = "active" if entry.active else "inactive"
        click.echo(f"{entry.id:>5}  {padded(entry.username, 24)} {padded(entry.display_name, 24)} {state:<9} "
                   f"{padded(entry.role or '-', 16)} {padded(sets, 24)} last sign-in {last}")


def shown_permission_sets(held) -> str:
    """"export,sales_rep (via role)": sets granted to the user, then those held only through their role."""
    names = sorted(held.direct) + [f"{name} (via role)" for name in sorted(held.only_through_role)]
    return ",".join(names) or "-"


@user.command("deactivate")
@click.argument("username")
@click.pass_context
@friendly_errors
def user_deactivate(context: click.Context, username: str) -> None:
    """Stop a user from signing in and end their sessions (their data stays)."""
    from crmkit.engine.security.administration import UserAdministration

    directory = open_directory(context)
    # Through the checked service as the system: the last active administrator stays one.
    UserAdministration(directory.crm.as_system()).deactivate(named_user(directory, username).id)
    click.echo(f"Deactivated {username}; their sessions have ended.")


@user.command("activate")
@click.argument("username")
@click.pass_context
@friendly_errors
def user_activate(context: click.Context, username: str) -> None:
    """Let a deactivated user sign in again."""
    directory = open_directory(context)
    directory.activate(named_user(directory, username).id)
    click.echo(f"Activated {username}.")


@user.command("set-password")
@click.argument("username")
@PASSWORD_STDIN
@click.pass_context
@friendly_errors
def user_set_password(context: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password (generated and printed once unless --password-stdin); ends the user's sessions."""
    directory = open_directory(context)
    target = named_user(directory, username)
    password, generated = read_password(password_stdin)
    directory.set_password(target.id, password)
    click.echo(f"Changed the password of {target.username}; their sessions have ended.")
    if generated:
        show_generated_password(context, target.username, password)


@user.command("grant")
@click.argument("username")
@click.argument("permission_sets", nargs=-1, required=True)
@click.pass_context
@friendly_errors
def user_grant(context: click.Context, username: str, permission_sets: tuple[str, ...]) -> None:
    """Grant permission sets to a user."""
    change_grants(open_directory(context), username, permission_sets, revoke=False)


@user.command("revoke")
@click.argument("username")
@click.argument("permission_sets", nargs=-1, required=True)
@click.pass_context
@friendly_errors
def user_revoke(context: click.Context, username: str, permission_sets: tuple[str, ...]) -> None:
    """Take permission sets away from a user (those of their role stay)."""
    change_grants(open_directory(context), username, permission_sets, revoke=True)


def change_grants(directory, username: str, permission_sets: tuple[str, ...], *, revoke: bool) -> None:
    from crmkit.engine.security.users import UserError

    target = named_user(directory, username)
    if revoke:
        held = directory.permission_sets_held([target.id])[target.id]
        through_role = [name for name in permission_sets if name in held.only_through_role]
        if through_role:
            raise UserError(f"{target.username} holds {', '.join(repr(name) for name in through_role)} through "
                            f"their role {target.role!r}, not by a grant of their own; nothing was revoked. "
                            "Change their role, or the role's grants.")
        missing = [name for name in permission_sets if name not in held.direct]
        if missing:
            raise UserError(f"{target.username} does not have {', '.join(repr(name) for name in missing)}; "
                            "nothing was revoked. See their permission sets with: crmkit user list")
    from crmkit.engine.security.administration import UserAdministration

    administration = UserAdministration(directory.crm.as_system())  # the last administrator keeps `admin`
    change = administration.revoke if revoke else administration.grant
    for name in permission_sets:
        change(name, user_id=target.id)
    now = shown_permission_sets(directory.permission_sets_held([target.id])[target.id]).replace(",", ", ")
    now = "none" if now == "-" else now
    click.echo(f"{'Revoked' if revoke else 'Granted'} {', '.join(permission_sets)}; {target.username} now has: {now}.")


@main.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@click.argument("username")
@click.argument("name")
@click.option("--expires-in-days", type=click.IntRange(min=1), help="Stop working after this many days.")
@click.pass_context
@friendly_errors
def token_create(context: click.Context, username: str, name: str, expires_in_days: int | None) -> None:
    """Create an API token for a user; the token is printed once."""
    from datetime import datetime, timedelta, timezone

    from crmkit.engine.security.tokens import TokenStore

    directory = open_directory(context)
    target = named_user(directory, username)
    expires_at = datetime.now(timezone.utc) + timedelta(days=expires_in_days) if expires_in_days else None
    issued = TokenStore(directory.crm).create(target.id, name, expires_at=expires_at)
    click.echo(f"Token {issued.id} ({issued.name}) for {target.username}: {issued.token}")
    click.echo(f"It will not be shown again: store it now. Revoke it with: crmkit token revoke {issued.id}")


@token.command("list")
@click.argument("username")
@click.pass_context
@friendly_errors
def token_list(context: click.Context, username: str) -> None:
    """List a user's API tokens (never the secret)."""
    from crmkit.engine.security.tokens import TokenStore

    directory = open_directory(context)
    target = named_user(directory, username)
    for row in TokenStore(directory.crm).list(target.id):
        used = f"{row['last_used_at']:%Y-%m-%d %H:%M}" if row["last_used_at"] else "never"
        click.echo(f"{row['id']:>5}  {padded(row['name'], 32)} crmkit_{row['prefix']}_...  "
                   f"created {row['created_at']:%Y-%m-%d}  last used {used}  {token_state(row)}")


def token_state(row: dict) -> str:
    if row["revoked_at"]:
        return "revoked"
    return f"expires {row['expires_at']:%Y-%m-%d}" if row["expires_at"] else "active"


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
@friendly_errors
def token_revoke(context: click.Context, token_id: int) -> None:
    """Revoke an API token by its id (see crmkit token list)."""
    from crmkit.engine.security.tokens import TokenStore

    TokenStore(open_crm(context)).revoke(token_id)
    click.echo(f"Revoked token {token_id}.")


# -- automation: the worker and the outbox -----------------------------------------------------


@main.command()
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@click.option("--once", is_flag=True, help="Fire the time-based rules that are due, work every due outbox row now, "
                                          "say what became of each, and exit.")
@click.pass_context
@friendly_errors
def worker(context: click.Context, workers: int, once: bool) -> None:
    """Work the automation outbox: the huey queue (CRMKIT_REDIS_URL, else a SQLite file) until stopped."""
    from crmkit.engine.automation.queue import AutomationQueue

    crm = open_crm(context)
    try:
        if once:
            from crmkit.engine.automation.due import run_time_based

            timed = run_time_based(crm)  # time-based rules due now write their outbox rows first
            for rule, rows in timed["scheduled"].items():
                click.echo(f"scheduled rule {rule}: {rows} outbox row(s)")
            if any(timed["relative"].values()):
                click.echo(f"planned runs: {timed['relative']['done']} fired, {timed['relative']['skipped']} skipped")
            outcomes = crm.outbox.work_due()
            for outbox_id, outcome in outcomes.items():
                click.echo(f"{outbox_id:>8}  {outcome}")
            click.echo(f"Worked {len(outcomes)} outbox row(s).")
            return
        crm.queue = AutomationQueue.open(crm)
        crm.outbox.requeue()
        storage = crm.queue.huey.storage.__class__.__name__
        click.echo(f"crmkit worker: {workers} thread(s) on {storage} (stop with Ctrl+C)")
        crm.queue.consumer(workers=workers).run()
    finally:
        crm.close()


@main.command()
@click.option("--status", type=click.Choice(["pending", "done", "dead", "stopped", "sending"]),
              help="Only rows of this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--replay", "replay_ids", multiple=True, type=int, metavar="ID",
              help="Make this dead row pending again (repeatable).")
@click.pass_context
@friendly_errors
def outbox(context: click.Context, status: str | None, limit: int, replay_ids: tuple[int, ...]) -> None:
    """List the automation outbox, newest first, or replay dead rows."""
    crm = open_crm(context)
    try:
        if replay_ids:
            replayed = crm.outbox.replay(list(replay_ids))
            click.echo(f"Replayed {len(replayed)} row(s): {', '.join(map(str, replayed))}. "
                       "crmkit worker will do them.")
            return
        rows = crm.outbox.rows(status=status, limit=limit)
        if not rows:
            click.echo(f"No outbox rows{f' with status {status}' if status else ''}.")
        for row in rows:
            error = f"  {row['last_error']}" if row["last_error"] else ""
            click.echo(f"{row['id']:>8}  {row['status']:<8} {padded(row['rule'], 40)} {row['object']} {row['record_id']}  "
                       f"{row['kind']}  attempts {row['attempts']}{error}")
    finally:
        crm.close()



@main.command()
@click.argument("object_name", metavar="OBJECT")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Records read and rescored per transaction.")
@click.pass_context
@friendly_errors
def rescore(context: click.Context, object_name: str, batch_size: int) -> None:
    """Recompute the score of every existing record of OBJECT from its scoring rules, in batches."""
    from crmkit.engine.automation.scoring import rescore as rescore_records

    crm = open_crm(context)
    try:
        if crm.runtime.registry.object(object_name).scoring is None:
            raise click.ClickException(f"{object_name} has no scoring rules; declare them under 'scoring:' "
                                       "(docs/automation.md, \"Scoring\").")
        changed = rescore_records(crm, object_name, batch_size=batch_size)
        click.echo(f"Rescored {object_name}: {changed:,} score(s) changed.")
    finally:
        crm.close()


def import_mapping(given: tuple[str, ...]) -> tuple[dict[str, str] | None, str | None]:
    """--mapping as (mapping, saved mapping name): a JSON file {column: field}, COLUMN=FIELD pairs (which change
    the guessed mapping: `mapping_adds`), or a saved name."""
    import json

    if not given:
        return None, None
    if len(given) == 1 and "=" not in given[0]:
        if Path(given[0]).is_file():
            try:
                return {str(k): v for k, v in json.loads(Path(given[0]).read_text(encoding="utf-8")).items()}, None
            except (ValueError, AttributeError):
                raise click.BadParameter(f"{given[0]} is not a JSON object of column: field.") from None
        return None, given[0]
    pairs = [item.partition("=") for item in given]
    if any(not sep for _, sep, _ in pairs):
        raise click.BadParameter("give COLUMN=FIELD pairs, a JSON file or a saved mapping's name.")
    return {column.strip(): field.strip() or None for column, _, field in pairs}, None


def acting_context(crm, username: str | None):
    """The context a transfer command works as: --as USER, else the system (which skips permissions)."""
    if username is None:
        return crm.as_system()
    from crmkit.engine.security.users import SystemDirectory

    return crm.as_user(named_user(SystemDirectory(crm), username).id)


def job_context(crm, job_id: int):
    """The context of the user who started import `job_id` (the system's for a job the system started)."""
    from crmkit.engine.transfer.importer import ImportService

    system = crm.as_system()
    owner = ImportService.for_job(system, job_id).job(job_id).user_id
    return crm.as_user(owner) if owner is not None else system


def show_import(report, error_file: str | None, errors) -> None:
    """The counts, the first refused rows, and the whole error report written to --errors."""
    verb = "Would import" if report.job_id is None else "Imported"
    job = f" (import {report.job_id}, {report.status})" if report.job_id is not None else ""
    click.echo(f"{verb} {report.rows:,} row(s): {report.created:,} created, {report.updated:,} updated, "
               f"{report.skipped:,} skipped, {report.failed:,} failed{job}.")
    for error in report.errors[:20]:
        where = f", column {error.column}" if error.column else f", field {error.field}" if error.field else ""
        click.echo(f"  row {error.row}{where}: {error.message}", err=True)
    if len(report.errors) > 20 or (report.failed and not report.errors):
        click.echo(f"  ... and more: see {error_file or 'the report (--errors FILE)'}.", err=True)
    if error_file:
        try:
            Path(error_file).write_text("".join(errors), encoding="utf-8")
        except OSError as error:  # checked before the import (error_file_problem): the folder changed since
            click.echo(f"Error: the refused rows could not be written to {error_file} ({error.strerror}); "
                       f"the import itself is done.", err=True)
            sys.exit(1)
        click.echo(f"Wrote the refused rows to {error_file}.")


def error_file_problem(error_file: str) -> str | None:
    """Why --errors FILE cannot be written (no such folder, a folder, not writable), as a sentence; None when it can.

    Checked before anything is imported, so that a mistyped path costs nothing.
    """
    path = Path(error_file)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return f"--errors {error_file} is a folder, not a file; nothing was imported."
    if not folder.is_dir():
        return f"--errors {error_file}: the folder {folder} does not exist; nothing was imported."
    if not os.access(path if path.exists() else folder, os.W_OK):
        return f"--errors {error_file} cannot be written (permission denied); nothing was imported."
    return None


@main.command("import")
@click.argument("object_name", metavar="OBJECT", required=False)
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", multiple=True, metavar="NAME|FILE.json|COLUMN=FIELD",
              help="Column to field: a saved mapping, a JSON file (the whole mapping), or COLUMN=FIELD (repeatable; "
                   "changes the guess, COLUMN= leaves a column out). Default: guessed from the header (labels in "
                   "English or Chinese, API names).")
@click.option("--save-mapping", metavar="NAME", help="Keep the mapping used under this name.")
@click.option("--dry-run", is_flag=True, help="Check every row and report every error; write nothing.")
@click.option("--upsert-on", metavar="FIELD", help="Update the record holding the row's value of this unique field.")
@click.option("--duplicates", type=click.Choice(["block", "skip", "merge"]),
              help="What to do with a row matching a stored record (or an earlier row) by --match.")
@click.option("--match", "rule", type=click.Choice(["email", "phone", "name"]), default="email", show_default=True,
              help="How duplicates are found.")
@click.option("--region", default="CN", show_default=True, help="Phone numbers without +country are read in it.")
@click.option("--no-automation", is_flag=True, help="Save without firing automation rules.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 50_000),
              help="Rows per transaction.")
@click.option("--as", "username", metavar="USER", help="Import as this user, with their rights (default: system).")
@click.option("--resume", "job_id", type=int, metavar="ID", help="Continue import ID where it stopped (as the user who started it, unless --as).")
@click.option("--errors", "error_file", type=click.Path(dir_okay=False), help="Write the refused rows as CSV here.")
@click.pass_context
@friendly_errors
def import_records(context: click.Context, object_name: str | None, file: str | None, mapping: tuple[str, ...],
                   save_mapping: str | None, dry_run: bool, upsert_on: str | None, duplicates: str | None,
                   rule: str, region: str, no_automation: bool, batch_size: int, username: str | None,
                   job_id: int | None, error_file: str | None) -> None:
    """Import records of OBJECT from FILE (CSV in any common encoding, XLSX, XLS), in batches, with a progress bar."""
    from crmkit.engine.transfer.importer import ImportOptions, ImportService

    if job_id is None and (object_name is None or file is None):
        raise click.UsageError("give OBJECT and FILE, or --resume ID.")
    if error_file and (problem := error_file_problem(error_file)):
        click.echo(f"Error: {problem}", err=True)
        sys.exit(1)
    crm = open_crm(context)
    try:
        user = acting_context(crm, username)
        if job_id is not None and username is None:  # a job resumes as the user who started it, as in the web
            user = job_context(crm, job_id)
        imports = ImportService.for_job(user, job_id) if job_id is not None else ImportService(user, object_name)
        columns, saved = import_mapping(mapping)
        options = ImportOptions(mapping=columns, saved_mapping=saved, save_mapping_as=save_mapping,
                                upsert_on=upsert_on, duplicates=duplicates, duplicate_rule=rule, region=region,
                                automation=not no_automation, batch_size=batch_size,
                                mapping_adds=bool(mapping) and all("=" in item for item in mapping))
        with click.progressbar(length=1, label=f"Importing {imports.object_name}", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            if dry_run:
                report = imports.dry_run(file, options, progress)
            else:
                report = imports.resume(job_id if job_id is not None else imports.start(file, options), progress)
        errors = imports.error_report(report.job_id) if report.job_id is not None else _report_lines(report)
        show_import(report, error_file, errors)
        if file is not None:
            _say_left_out(file, report.mapping)
    finally:
        crm.close()


def _say_left_out(file: str, mapping) -> None:
    """Names the file's columns the mapping left out (no field's name or label matched them): their values were not
    imported, which the counts alone do not tell."""
    from crmkit.engine.transfer.files import read_table

    left = [column for column in read_table(file).header if column and column not in mapping]
    if left:
        click.echo(f"Columns left out (mapped to no field; map one with --mapping COLUMN=FIELD): "
                   f"{', '.join(left)}.")


def _report_lines(report):
    from crmkit.engine.transfer.jobs import error_csv

    return error_csv(report.errors)


if __name__ == "__main__":
    main()
