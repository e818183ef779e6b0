"""A signed-in user's own account: their profile, password, language and time zone.

    mine = MyAccount(crm.as_user(user_id))
    mine.profile()                                   # User (never the password hash)
    mine.change_password("old passphrase", "a new long passphrase", keep_session=token)
    mine.set_preferences(language="zh", timezone="Asia/Shanghai")

Changing the password needs the current one: a session left open on a shared computer does
not let someone else take the account over. After MAX_WRONG wrong current passwords within
WRONG_WINDOW further tries are refused for that long (PasswordChangeThrottled), so an open
session cannot be used to guess the password either. Every change and every wrong password
is in the security log.
"""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from crmkit.engine.records.errors import RecordError
from crmkit.engine.security.audit import utc_now
from crmkit.engine.security.passwords import verify_password
from crmkit.engine.security.users import SystemDirectory, User, UserError

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.security.audit import Clock

MAX_WRONG = 5
WRONG_WINDOW = timedelta(minutes=15)
WRONG_EVENT = "password.change_failed"


class WrongPassword(UserError):
    status = 403
    title = "Wrong password"


class PasswordChangeThrottled(RecordError):
    status = 429
    title = "Too many attempts"


class MyAccount:
    """The acting user's own account (a UserContext of `crm.as_user`; not the system session)."""

    def __init__(self, context: "UserContext", *, clock: "Clock | None" = None) -> None:
        if context.policy is None:
            raise UserError("the system session has no account of its own; use a user's session (crm.as_user).")
        self.context = context
        self._clock = clock or utc_now
        self.directory = SystemDirectory(context.crm, clock=self._clock)

    @property
    def _user_id(self) -> int:
        return self.context.policy.user.user_id

    def profile(self) -> User:
        """The user as stored now; UnknownUser if they were deactivated meanwhile."""
        self.context.refresh_rights()
        return self.directory.get(self._user_id)

    def change_password(self, current: str, new: str, *, keep_session: str | None = None) -> None:
        """Set a new password after checking the current one; every other session of the user ends.

        WrongPassword for a wrong current password, PasswordChangeThrottled after too many,
        UserError when the new one breaks the password policy. `keep_session` is the token of
        the session making the change, which stays signed in.
        """
        self.context.refresh_rights()
        self._refuse_if_throttled()
        users = self.context.runtime.system_table("crmkit_user")
        with self.context.crm.engine.connect() as connection:
            stored = connection.execute(select(users.c.password_hash).where(users.c.id == self._user_id)).scalar()
        if not isinstance(current, str) or not verify_password(stored, current):
            user = self.directory.get(self._user_id)
            self.directory.log.record(WRONG_EVENT, user_id=user.id, username=user.username,
                                      detail={"by": self._user_id})
            raise WrongPassword("the current password is not right, so the password was not changed.")
        self.directory.set_password(self._user_id, new, actor_id=self._user_id, keep_session=keep_session)

    def set_preferences(self, *, language: str | None = None, timezone: str | None = None,
                        display_name: str | None = None) -> User:
        """Change the given ones of the user's language, time zone and display name.

        Sessions taken afterwards (crm.as_user) use the new language and time zone.
        """
        self.context.refresh_rights()
        return self.directory.set_preferences(self._user_id, language=language, timezone=timezone,
                                              display_name=display_name, actor_id=self._user_id)

    def _refuse_if_throttled(self) -> None:
        log = self.context.runtime.system_table("crmkit_security_log")
        since = self._clock() - WRONG_WINDOW
        with self.context.crm.engine.connect() as connection:
            wrong = connection.execute(select(func.count()).select_from(log).where(
                log.c.event == WRONG_EVENT, log.c.user_id == self._user_id, log.c.at >= since)).scalar()
        if wrong >= MAX_WRONG:
            minutes = int(WRONG_WINDOW.total_seconds() // 60)
            raise PasswordChangeThrottled(f"the current password was wrong {wrong} times in the last {minutes} "
                                          f"minutes; try again in {minutes} minutes.")
