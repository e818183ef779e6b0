"""Users, teams and permission-set grants: the accounts of a crmkit database.

    directory = SystemDirectory(crm)
    alice = directory.create_user("alice", password="a long passphrase", permission_sets=["sales"])
    team = directory.create_team("emea", {"en": "EMEA", "zh": "欧洲中东非洲"})
    directory.add_to_team(team, alice.id)
    directory.permission_sets_of(alice.id)            # frozenset({"sales"}) plus her role's sets

Every change writes a security-log entry in the same transaction. `user_id` in an entry
is the account the change is about; `detail["by"]` is the acting user's id, if any.
"""
from __future__ import annotations

import re
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from babel import Locale, UnknownLocaleError
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from crmkit.engine import messages
from crmkit.engine.database import write_transaction
from crmkit.engine.records.errors import RecordError
from crmkit.engine.security.audit import Clock, SecurityLog, utc_now
from crmkit.engine.security.holdings import HeldPermissionSets, permission_sets_held, role_permission_sets
from crmkit.engine.security.rights import hold_rights_version, rights_changed
from crmkit.engine.security.timezones import checked_timezone
from crmkit.engine.security.passwords import (
    PasswordAssessment, assess_password, generate_password, hash_password, token_digest,
)
from crmkit.engine.fieldtypes.inputs import UNSTORABLE
from crmkit.engine.query.inputs import is_record_id, shown
from crmkit.metadata.errors import closest
from crmkit.metadata.model import ADMIN_PERMISSION_SET

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm

USERNAME_PATTERN = re.compile(r"[a-z0-9._@-]{2,150}")
LANGUAGE_PATTERN = re.compile(r"([a-z]{2,3})(?:-([a-z]{2}))?")
NAME_LENGTH = 63


class UserError(RecordError):
    """A request about users, teams, grants or tokens that cannot be carried out, as a sentence.

    `field` names the input the sentence is about, when it is about one ("username",
    "display_name", "email", "language", "timezone", "password", "role", "permission_set",
    "team"), so a form can show it beside that input; None for the request as a whole.
    """

    title = "User change not possible"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    #: A text, or {language: text}; None: the name is shown.
    label: str | Mapping[str, str] | None


@dataclass(frozen=True)
class UserPage:
    """One page of users by username: `after` is the username to pass for the next page (None: the last page)."""

    users: "tuple[User, ...]"
    after: str | None


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    email: str | None
    active: bool
    language: str
    timezone: str
    role: str | None
    created_at: datetime
    last_login_at: datetime | None


def user_columns(table) -> list:
    """The columns a User is made of: never the password hash."""
    return [table.c[name] for name in User.__dataclass_fields__]


def user_from_row(row: Any) -> User:
    return User(**{name: row._mapping[name] for name in User.__dataclass_fields__})


def normalize_username(username: str) -> str:
    return str(username).strip().lower()


def checked_username(username: str) -> str:
    name = normalize_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise UserError(messages.NOT_A_USERNAME(username=repr(username)),
                        field="username")
    return name


def checked_language(language: str) -> str:
    """A language tag such as 'en', 'zh-CN' or 'de' (BCP 47 language and region), normalised.

    Any language the Unicode CLDR (through Babel) knows is accepted: numbers are read in its
    locale (`1.234,50` for 'de'). Labels and messages are shown in it when the metadata has
    them, else in English; crmkit's own texts exist in English and Chinese.
    """
    match = LANGUAGE_PATTERN.fullmatch(str(language).strip().lower().replace("_", "-"))
    tag = match and match[1] + (f"-{match[2].upper()}" if match[2] else "")
    if not tag or not _known_locale(tag):
        raise UserError(messages.NOT_A_LANGUAGE(tag=repr(language)),
                        field="language")
    return tag


def _known_locale(tag: str) -> bool:
    try:
        Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return False
    return True


class PasswordRefused(UserError):
    """A new password the policy refuses: the sentence says why and how to choose a better one.

    `assessment` keeps the parts (problem codes, zxcvbn's warning and suggestions) for a user
    interface that words them in the user's language.
    """

    status = 422

    def __init__(self, assessment: PasswordAssessment) -> None:
        phrases = "; it ".join(problem.phrase for problem in assessment.problems)
        advice = " ".join(filter(None, [assessment.warning, *assessment.suggestions]))
        super().__init__(f"the password is not acceptable: it {phrases}." + (f" {advice}" if advice else ""),
                         field="password")
        self.assessment = assessment


def checked_password(password: str, username: str, context: Iterable[str | None] = ()) -> str:
    """`password` if the policy accepts it for the user (context: their display name and email); else PasswordRefused."""
    assessment = assess_password(password, username=username, context=[text for text in context if text])
    if not assessment.acceptable:
        raise PasswordRefused(assessment)
    return password


def _display_name(display_name: str | None, username: str) -> str:
    """A new user's display name as stored: the one given, trimmed, else their username."""
    return checked_text((display_name or "").strip()[:200], "display name", "display_name") or username


def checked_text(value: str, what: str, field: str | None = None) -> str:
    """`value` if a database can store it: no NUL character and no unpaired surrogate."""
    if UNSTORABLE.search(value):
        raise UserError(messages.USER_TEXT_UNSTORABLE(what=what), field=field)
    return value


def checked_email(email: str | None) -> str | None:
    email = checked_text((email or "").strip(), "email address", "email")
    if not email:
        return None
    local, at, domain = email.rpartition("@")
    if not (local and at and domain) or len(email) > 254 or any(ch.isspace() for ch in email):
        raise UserError(messages.NOT_AN_EMAIL_ADDRESS(email=repr(email)), field="email")
    return email


def checked_name(value: str, what: str, length: int = NAME_LENGTH, field: str | None = None) -> str:
    name = checked_text(str(value).strip(), f"{what} name", field)
    if not name or len(name) > length:
        raise UserError(messages.NAME_LENGTH(what=what, length=length, value=repr(value)), field=field)
    return name


def checked_label(label: str | Mapping[str, str] | None) -> str | Mapping[str, str] | None:
    texts = label.values() if isinstance(label, Mapping) else [label] if label is not None else []
    for text in texts:
        checked_text(str(text), "label")
    return label


class SystemDirectory:
    """Every account change, with no permission check: for the command line and the platform itself.

    `actor_id` is only written to the security log. A signed-in user changes accounts through
    UserAdministration (security/administration.py, needs manage_users) and their own through
    MyAccount (security/account.py), which check the acting user's rights and then call here.
    """

    def __init__(self, crm: "Crm", *, clock: Clock | None = None, context: "UserContext | None" = None) -> None:
        """`context`: the acting user's session (UserAdministration, MyAccount), whose operations these reads and
        writes then are: inside its `transaction()` on its connection (saved or undone with the rest, the rights
        version they advance counted as its own); else each write with its operation read, as a records operation's.
        Without one, each runs on a connection of its own (the command line, sign-in, the platform itself)."""
        self.crm = crm
        self._clock = clock or utc_now
        self.log = SecurityLog(crm, clock=self._clock)
        self._context = context

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """The connection of an account change, which first holds the rights version (`hold_rights_version`: no-op
        on SQLite). Every account change so takes its locks in one order, that row before any user's or grant's,
        as UserAdministration's checks do: two never wait for each other (a deadlock PostgreSQL would break by
        refusing one: a user's own language change and an administrator's change of that user at once)."""
        opened = self._context.writing() if self._context is not None else write_transaction(self.crm.write_engine)
        with opened as connection:
            hold_rights_version(connection, self.crm.runtime)
            yield connection

    def _reading(self) -> AbstractContextManager[Connection]:
        """Inside the session's transaction its connection (what it wrote, what it holds); else a connection of its
        own, which sees what was committed last, the change this directory just wrote too (a `snapshot()` would
        not: it reads the moment it began)."""
        if self._context is not None and self._context.in_transaction:
            return self._context.reading()
        return self.crm.engine.connect()

    def _table(self, name: str):
        return self.crm.runtime.system_table(f"crmkit_{name}")

    # -- users ---------------------------------------------------------------------------

    def create_user(self, username: str, *, display_name: str | None = None, email: str | None = None,
                    password: str | None = None, role: str | None = None, language: str = "en",
                    timezone: str = "UTC", permission_sets: Iterable[str] = (), actor_id: int | None = None,
                    password_hash: str | None = None) -> User:
        """A new, active user; without a password the account cannot sign in until one is set.

        `password_hash`: `new_user_password_hash`'s, made ahead, instead of `password`.
        """
        name = checked_username(username)
        now = self._clock()
        row = {"username": name, "display_name": _display_name(display_name, name),
               "email": checked_email(email), "active": True, "language": checked_language(language),
               "timezone": checked_timezone(timezone), "role": self._known_role(role) if role else None,
               "created_at": now, "updated_at": now}
        if password_hash is not None:
            row["password_hash"] = password_hash
        elif password is not None:
            row["password_hash"] = hash_password(checked_password(password, name, (row["display_name"], row["email"])))
        sets = [self._known_permission_set(s) for s in permission_sets]
        table = self._table("user")
        try:
            with self._writing() as connection:
                if connection.execute(select(table.c.id).where(table.c.username == name)).first():
                    raise UserError(messages.USERNAME_TAKEN(username=repr(name)), field="username")
                user_id = connection.execute(insert(table).values(row).returning(table.c.id)).scalar_one()
                self.log.record("user.created", user_id=user_id, username=name, connection=connection,
                                detail={"by": actor_id, "role": row["role"]})
                rights_changed(connection, self.crm.runtime)  # those above the new user's role see their records
                for permission_set in dict.fromkeys(sets):
                    self._grant(connection, permission_set, user_id, None, actor_id)
        except IntegrityError:
            raise UserError(messages.USERNAME_TAKEN(username=repr(name)), field="username") from None
        return self.get(user_id)

    def new_user_password_hash(self, username: str, password: str, *, display_name: str | None = None,
                               email: str | None = None) -> str:
        """The hash `create_user` would store for `password` with these username, display name and email
        (PasswordRefused if the policy refuses it for them), made ahead: argon2's work (about 0.1 s) is then done
        before a lock is taken (security/administration.py). UserError for a bad username or email."""
        name = checked_username(username)
        return hash_password(checked_password(password, name, (_display_name(display_name, name),
                                                               checked_email(email))))

    def password_hash(self, user_id: int, password: str) -> str:
        """The hash `set_password` would store for `password` as the user's new one (PasswordRefused if the policy
        refuses it for them), made ahead as `new_user_password_hash` is; UserError for an unknown user."""
        user = self.get(user_id)
        return hash_password(checked_password(password, user.username, (user.display_name, user.email)))

    def create_first_admin(self, username: str = "admin") -> tuple[User, str] | None:
        """On a database without users: an administrator with a random password, returned once; else None."""
        table = self._table("user")
        with self._reading() as connection:
            if connection.execute(select(table.c.id).limit(1)).first():
                return None
        password = generate_password()
        user = self.create_user(username, display_name="Administrator", password=password,
                                permission_sets=[ADMIN_PERMISSION_SET])
        return user, password

    def get(self, user_id: int) -> User:
        if not is_record_id(user_id):
            raise UserError(messages.NO_USER_NUMBER(id=shown(user_id)))
        found = self._users(self._table("user").c.id == user_id)
        if not found:
            raise UserError(messages.NO_USER(id=user_id))
        return found[0]

    def by_username(self, username: str) -> User | None:
        if UNSTORABLE.search(username):  # no stored username has such a character, and no database takes it
            return None
        found = self._users(self._table("user").c.username == normalize_username(username))
        return found[0] if found else None

    def list(self, active_only: bool = False) -> list[User]:
        return self._users(self._table("user").c.active.is_(True)) if active_only else self._users()

    def find(self, text: str = "", *, active: bool | None = None, after: str | None = None,
             limit: int = 50) -> UserPage:
        """One page of users by username: those whose username, display name or email contains `text`
        (case-insensitive), active or inactive ones only if `active` says so, after the username `after`.

        Keyset paging on the unique username (never OFFSET); `limit` is 1 to 500. The filter and
        the page are SQL with bound parameters.
        """
        table = self._table("user")
        conditions = []
        text = checked_text(str(text or "").strip()[:200], "search text")
        if text:
            conditions.append(or_(*(func.lower(table.c[name]).contains(text.lower(), autoescape=True)
                                    for name in ("username", "display_name", "email"))))
        if active is not None:
            conditions.append(table.c.active.is_(active))
        if after:
            conditions.append(table.c.username > checked_text(str(after), "page cursor"))
        limit = max(1, min(int(limit), 500))
        query = select(*user_columns(table)).where(*conditions).order_by(table.c.username).limit(limit + 1)
        with self._reading() as connection:
            users = [user_from_row(row) for row in connection.execute(query)]
        more = len(users) > limit
        return UserPage(tuple(users[:limit]), users[limit - 1].username if more else None)

    def _users(self, *conditions: Any) -> list[User]:
        table = self._table("user")
        query = select(*user_columns(table)).where(*conditions).order_by(table.c.username)
        with self._reading() as connection:
            return [user_from_row(row) for row in connection.execute(query)]

    def deactivate(self, user_id: int, *, actor_id: int | None = None) -> None:
        """The user can no longer sign in; their sessions end now. Tokens stay but stop working while inactive."""
        with self._writing() as connection:
            self._change(connection, user_id, {"active": False}, "user.deactivated", {"by": actor_id})
            rights_changed(connection, self.crm.runtime)
            end_sessions_in(connection, self._table("login_session"), user_id)

    def activate(self, user_id: int, *, actor_id: int | None = None) -> None:
        with self._writing() as connection:
            self._change(connection, user_id, {"active": True}, "user.activated", {"by": actor_id})
            rights_changed(connection, self.crm.runtime)

    def set_password(self, user_id: int, password: str | None, *, actor_id: int | None = None,
                     keep_session: str | None = None, password_hash: str | None = None) -> None:
        """Checks the policy, stores the new hash and ends every session except `keep_session` (a session token).

        `password_hash`: `password_hash(user_id, password)`, made ahead, instead of `password` (then None).
        """
        if password_hash is None:
            password_hash = self.password_hash(user_id, password)
        with self._writing() as connection:
            self._change(connection, user_id, {"password_hash": password_hash}, "password.changed", {"by": actor_id})
            end_sessions_in(connection, self._table("login_session"), user_id, keep=keep_session)

    def set_preferences(self, user_id: int, *, language: str | None = None, timezone: str | None = None,
                        display_name: str | None = None, email: str | None = None,
                        actor_id: int | None = None) -> User:
        """Changes the given ones of the user's language, time zone, display name and email (None keeps it;
        an empty email removes it).

        Returns the updated User. UserError for an unknown user, a language Babel does not
        know, a time zone name the IANA database lacks or a bad display name; nothing is
        changed then. Logged as `preferences.changed` with the new values.
        """
        values: dict[str, Any] = {}
        if language is not None:
            values["language"] = checked_language(language)
        current = self.get(user_id)
        if timezone is not None and timezone != current.timezone:  # a zone stored before the list narrowed stays
            values["timezone"] = checked_timezone(timezone)
        if display_name is not None:
            values["display_name"] = checked_name(display_name, "display", 200, "display_name")
        if email is not None:
            values["email"] = checked_email(email)
        self.get(user_id)
        if values:
            with self._writing() as connection:
                self._change(connection, user_id, values, "preferences.changed", {"by": actor_id, **values})
                rights_changed(connection, self.crm.runtime)  # contexts carry the language and time zone
        return self.get(user_id)

    def set_role(self, user_id: int, role: str | None, *, actor_id: int | None = None) -> None:
        """Gives the user a role of the installed metadata (None: no role); UserError for an unknown role."""
        role = self._known_role(role) if role else None
        previous = self.get(user_id).role
        with self._writing() as connection:
            self._change(connection, user_id, {"role": role}, "role.changed",
                         {"by": actor_id, "from": previous, "to": role})
            rights_changed(connection, self.crm.runtime)

    def _change(self, connection: Connection, user_id: int, values: Mapping[str, Any], event: str,
                detail: Mapping[str, Any]) -> None:
        table = self._table("user")
        username = self._username(connection, user_id)
        connection.execute(update(table).where(table.c.id == user_id).values(**values, updated_at=self._clock()))
        self.log.record(event, user_id=user_id, username=username, detail=detail, connection=connection)

    # -- teams ---------------------------------------------------------------------------

    def create_team(self, name: str, label: str | Mapping[str, str] | None = None, *,
                    actor_id: int | None = None) -> int:
        name = checked_name(name, "team", 150)
        label = checked_label(label)
        table = self._table("team")
        with self._writing() as connection:
            if connection.execute(select(table.c.id).where(table.c.name == name)).first():
                raise UserError(messages.TEAM_TAKEN(name=repr(name)))
            team_id = connection.execute(
                insert(table).values(name=name, label=label).returning(table.c.id)).scalar_one()
            self.log.record("team.created", detail={"team_id": team_id, "team": name, "by": actor_id},
                            connection=connection)
        return team_id

    def add_to_team(self, team_id: int, user_id: int, *, actor_id: int | None = None) -> None:
        """Makes the user a member (nothing happens if they already are)."""
        members = self._table("team_member")
        with self._writing() as connection:
            team, username = self._team_and_user(connection, team_id, user_id)
            if connection.execute(select(members.c.team_id).where(
                    members.c.team_id == team_id, members.c.user_id == user_id)).first():
                return
            connection.execute(insert(members).values(team_id=team_id, user_id=user_id))
            rights_changed(connection, self.crm.runtime)
            self.log.record("team.member_added", user_id=user_id, username=username, connection=connection,
                            detail={"team_id": team_id, "team": team, "by": actor_id})

    def remove_from_team(self, team_id: int, user_id: int, *, actor_id: int | None = None) -> None:
        members = self._table("team_member")
        with self._writing() as connection:
            team, username = self._team_and_user(connection, team_id, user_id)
            removed = connection.execute(delete(members).where(
                members.c.team_id == team_id, members.c.user_id == user_id)).rowcount
            if removed:
                rights_changed(connection, self.crm.runtime)
                self.log.record("team.member_removed", user_id=user_id, username=username, connection=connection,
                                detail={"team_id": team_id, "team": team, "by": actor_id})

    def teams(self) -> list[Team]:
        """Every team by name."""
        table = self._table("team")
        with self._reading() as connection:
            return [Team(row.id, row.name, row.label)
                    for row in connection.execute(select(table.c.id, table.c.name, table.c.label).order_by(table.c.name))]

    def team(self, team_id: int) -> Team:
        """The team; UserError for an unknown one."""
        table = self._table("team")
        if not is_record_id(team_id):
            raise UserError(messages.NO_TEAM_NUMBER(id=shown(team_id)), field="team")
        with self._reading() as connection:
            row = connection.execute(select(table.c.id, table.c.name, table.c.label).where(table.c.id == team_id)).first()
        if row is None:
            raise UserError(messages.NO_TEAM(id=team_id), field="team")
        return Team(row.id, row.name, row.label)

    def team_members(self, team_id: int) -> list[User]:
        """The team's members by username (UserError for an unknown team)."""
        self.team(team_id)
        members = self._table("team_member")
        return self._users(self._table("user").c.id.in_(
            select(members.c.user_id).where(members.c.team_id == team_id)))

    def team_memberships(self, user_ids: Iterable[int]) -> dict[int, list[Team]]:
        """{user id: their teams by name} for the given users (a page of them), in one query."""
        ids = sorted({user_id for user_id in user_ids if is_record_id(user_id)})
        if not ids:
            return {}
        members, teams = self._table("team_member"), self._table("team")
        query = select(members.c.user_id, teams.c.id, teams.c.name, teams.c.label).join(
            teams, teams.c.id == members.c.team_id).where(members.c.user_id.in_(ids)).order_by(teams.c.name)
        found: dict[int, list[Team]] = {user_id: [] for user_id in ids}
        with self._reading() as connection:
            for row in connection.execute(query):
                found[row.user_id].append(Team(row.id, row.name, row.label))
        return found

    def teams_of(self, user_id: int) -> list[int]:
        members = self._table("team_member")
        query = select(members.c.team_id).where(members.c.user_id == user_id).order_by(members.c.team_id)
        with self._reading() as connection:
            return list(connection.execute(query).scalars())

    def _team_and_user(self, connection: Connection, team_id: int, user_id: int) -> tuple[str, str]:
        teams = self._table("team")
        if not is_record_id(team_id):
            raise UserError(messages.NO_TEAM_NUMBER(id=shown(team_id)))
        team = connection.execute(select(teams.c.name).where(teams.c.id == team_id)).scalar()
        if team is None:
            raise UserError(messages.NO_TEAM(id=team_id))
        return team, self._username(connection, user_id)

    # -- grants --------------------------------------------------------------------------

    def grant(self, permission_set: str, *, user_id: int | None = None, role: str | None = None,
              actor_id: int | None = None) -> None:
        """Gives a permission set to one user or to everyone with a role (nothing happens if already given).

        The permission set and the role must exist in the installed metadata; UserError says which do not.
        """
        permission_set = self._known_permission_set(permission_set)
        role = self._grantee(user_id, role)
        if role is not None:
            self._known_role(role)
        with self._writing() as connection:
            self._grant(connection, permission_set, user_id, role, actor_id)

    def revoke(self, permission_set: str, *, user_id: int | None = None, role: str | None = None,
               actor_id: int | None = None) -> None:
        permission_set = checked_name(permission_set, "permission set")
        role = self._grantee(user_id, role)
        grants = self._table("grant")
        with self._writing() as connection:
            username = self._username(connection, user_id) if user_id is not None else None
            match = self._grant_match(permission_set, user_id, role)
            removed = connection.execute(delete(grants).where(match)).rowcount
            if removed:
                rights_changed(connection, self.crm.runtime)
                self.log.record("permission.revoked", user_id=user_id, username=username, connection=connection,
                                detail={"permission_set": permission_set, "role": role, "by": actor_id})

    def permission_sets_of(self, user_id: int) -> frozenset[str]:
        """Every permission set the user holds, as the access checks count them: their own grants, grants
        to their role and the sets whose metadata lists their role (`roles:`); empty for an unknown user."""
        held = self.permission_sets_held([user_id]).get(user_id)
        return held.all if held is not None else frozenset()

    def permission_sets_held(self, user_ids: Iterable[int]) -> dict[int, HeldPermissionSets]:
        """{user id: HeldPermissionSets} (granted directly / through the role) for the given existing users:
        two queries for any number of them (security/holdings.py)."""
        ids = sorted({user_id for user_id in user_ids if is_record_id(user_id)})
        if not ids:
            return {}
        users = self._table("user")
        with self._reading() as connection:
            roles = {row.id: row.role for row in connection.execute(
                select(users.c.id, users.c.role).where(users.c.id.in_(ids)))}
            return permission_sets_held(connection, self.crm.runtime, roles)

    def role_permission_sets(self) -> dict[str, HeldPermissionSets]:
        """{role: sets}: granted to the role (`direct`) and listing it in the metadata (`through_role`), for
        every role of the metadata or of a stored grant."""
        with self._reading() as connection:
            return role_permission_sets(connection, self.crm.runtime)

    def stored_roles(self) -> frozenset[str]:
        """Roles named by a user or a grant in the database (those of an uninstalled package included)."""
        users, grants = self._table("user"), self._table("grant")
        query = select(users.c.role).where(users.c.role.is_not(None)).union(
            select(grants.c.role).where(grants.c.role.is_not(None)))
        with self._reading() as connection:
            return frozenset(connection.execute(query).scalars())

    def _grant(self, connection: Connection, permission_set: str, user_id: int | None, role: str | None,
               actor_id: int | None) -> None:
        grants = self._table("grant")
        username = self._username(connection, user_id) if user_id is not None else None
        if connection.execute(select(grants.c.id).where(self._grant_match(permission_set, user_id, role))).first():
            return
        connection.execute(insert(grants).values(permission_set=permission_set, user_id=user_id, role=role,
                                                 granted_at=self._clock(), granted_by=actor_id))
        rights_changed(connection, self.crm.runtime)
        self.log.record("permission.granted", user_id=user_id, username=username, connection=connection,
                        detail={"permission_set": permission_set, "role": role, "by": actor_id})

    def _grant_match(self, permission_set: str, user_id: int | None, role: str | None):
        grants = self._table("grant")
        if user_id is not None:
            return and_(grants.c.permission_set == permission_set, grants.c.user_id == user_id)
        return and_(grants.c.permission_set == permission_set, grants.c.user_id.is_(None), grants.c.role == role)

    @staticmethod
    def _grantee(user_id: int | None, role: str | None) -> str | None:
        if (user_id is None) == (role is None):
            raise UserError(messages.GRANT_TO_ONE())
        return checked_name(role, "role") if role is not None else None

    def _known_role(self, role: str) -> str:
        """`role` if the installed metadata defines it; else UserError naming the roles there are."""
        role = checked_name(role, "role")
        roles = self.crm.registry.roles
        if role not in roles:
            suggestion = closest(role, roles)
            listed = ", ".join(sorted(roles))
            raise UserError(messages.NO_ROLES_INSTALLED(role=repr(role)) if not roles else
                            messages.NO_ROLE_MAYBE(role=repr(role), suggestion=suggestion, roles=listed) if suggestion
                            else messages.NO_ROLE(role=repr(role), roles=listed), field="role")
        return role

    def _known_permission_set(self, permission_set: str) -> str:
        """`permission_set` if the installed metadata defines it (admin always exists); else UserError."""
        permission_set = checked_name(permission_set, "permission set")
        sets = self.crm.registry.permission_sets
        if permission_set not in sets:
            suggestion = closest(permission_set, sets)
            listed = ", ".join(sorted(sets))
            raise UserError(messages.NO_PERMISSION_SET_MAYBE(name=repr(permission_set), suggestion=suggestion,
                                                             sets=listed) if suggestion else
                            messages.NO_PERMISSION_SET(name=repr(permission_set), sets=listed), field="permission_set")
        return permission_set

    def _username(self, connection: Connection, user_id: int) -> str:
        if not is_record_id(user_id):
            raise UserError(messages.NO_USER_NUMBER(id=shown(user_id)))
        users = self._table("user")
        username = connection.execute(select(users.c.username).where(users.c.id == user_id)).scalar()
        if username is None:
            raise UserError(messages.NO_USER(id=user_id))
        return username


def end_sessions_in(connection: Connection, sessions, user_id: int, *, keep: str | None = None) -> int:
    """Deletes the user's sessions (all but the one whose token is `keep`); returns how many ended."""
    query = delete(sessions).where(sessions.c.user_id == user_id)
    if keep:
        query = query.where(sessions.c.token_hash != token_digest(keep))
    return connection.execute(query).rowcount
