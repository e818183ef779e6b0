"""A signed-in user's own account: their profile, language, time zone and display name.

    mine = MyAccount(crm.as_user(user_id))
    mine.profile()                                   # User (never the password hash)
    mine.set_preferences(language="zh", timezone="Asia/Shanghai")

A user changes their own password through `Authenticator.change_password(token, current,
new, context=...)`: it needs the current password and the signed-in session, counts a wrong
current password as a failed sign-in (so guessing it from an open session is throttled like
guessing at the sign-in page) and ends the user's other sessions. Given the session's context
(as the settings page does), it is an operation of the session, as these are: inside the
context's `transaction()` it writes on that transaction's connection.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crmkit.engine.security.users import SystemDirectory, User, UserError

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext


class MyAccount:
    """The acting user's own account (a UserContext of `crm.as_user`; not the system session)."""

    def __init__(self, context: "UserContext") -> None:
        if context.policy is None:
            raise UserError("the system session has no account of its own; use a user's session (crm.as_user).")
        self.context = context
        self.directory = SystemDirectory(context.crm, context=context)

    @property
    def _user_id(self) -> int:
        return self.context.policy.user.user_id

    def profile(self) -> User:
        """The user as stored now; UnknownUser if they were deactivated meanwhile."""
        self.context.refresh_rights()
        return self.directory.get(self._user_id)

    def set_preferences(self, *, language: str | None = None, timezone: str | None = None,
                        display_name: str | None = None) -> User:
        """Change the given ones of the user's language, time zone and display name.

        Sessions taken afterwards (crm.as_user) use the new language and time zone.
        """
        self.context.refresh_rights()
        return self.directory.set_preferences(self._user_id, language=language, timezone=timezone,
                                              display_name=display_name, actor_id=self._user_id)
