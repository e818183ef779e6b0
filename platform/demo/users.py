"""Demo users: people in the roles that the installed packages' assign_owner actions give records to.

    users = demo_owners(crm)      # e.g. three sales reps for the standard CRM's lead assignment

So that the demo shows assignment working, each role an `assign_owner` action draws from (its
`role`, a rule's `role` or the `fallback`'s) gets three active users, half English and half
Chinese names, created without a password (they cannot sign in until an administrator sets
one: `crmkit user set-password`). Users already there are kept, so running it twice adds nobody.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm
    from crmkit.engine.security.users import User

#: (username part, display name, language, time zone) of the demo people, handed out three per role.
PEOPLE = (
    ("wang.fang", "王芳", "zh", "Asia/Shanghai"),
    ("emma.clark", "Emma Clark", "en", "Europe/London"),
    ("li.wei", "李伟", "zh", "Asia/Shanghai"),
    ("james.miller", "James Miller", "en", "America/New_York"),
    ("zhang.min", "张敏", "zh", "Asia/Shanghai"),
    ("olivia.brown", "Olivia Brown", "en", "America/Chicago"),
)
PER_ROLE = 3


def assignment_roles(crm: "Crm") -> list[str]:
    """The roles the installed assign_owner actions draw owners from, in the order they are declared."""
    roles: dict[str, None] = {}
    for obj in crm.runtime.registry.objects.values():
        for rule in obj.automations:
            for action in rule.actions:
                assignment = action.assignment
                if action.type != "assign_owner" or assignment is None:
                    continue
                pools = [assignment.pool, *(row.pool for row in assignment.rules), assignment.fallback]
                roles.update((pool.role, None) for pool in pools if pool is not None and pool.role)
    return list(roles)


def demo_owners(crm: "Crm") -> list["User"]:
    """Three active users for each role of `assignment_roles` (created when missing); returns them all."""
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(crm)
    people = iter(PEOPLE * 10)
    users = []
    for number, role in enumerate(assignment_roles(crm)):
        for _ in range(PER_ROLE):
            handle, name, language, zone = next(people)
            username = handle if number == 0 else f"{handle}.{role}"
            user = directory.by_username(username) or directory.create_user(
                username, display_name=name, role=role, language=language, timezone=zone)
            users.append(user)
    return users
