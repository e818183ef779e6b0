"""The platform's security tables: users, teams, grants, shares, sessions, tokens, the security log."""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, MetaData, String, Table, Text, func

from crmkit.engine.columns import JsonDocument, RecordId, UtcDateTime


def define_security_tables(metadata: MetaData) -> None:
    define_people(metadata)
    define_access(metadata)
    define_sign_in(metadata)


def define_people(metadata: MetaData) -> None:
    """Users and teams."""
    user = Table(
        "crmkit_user", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("username", String(150), nullable=False, unique=True),
        Column("email", String(254), nullable=True),
        Column("display_name", String(200), nullable=False),
        Column("password_hash", String(255), nullable=True),
        Column("active", Boolean(), nullable=False, default=True),
        Column("language", String(16), nullable=False, default="en"),
        Column("timezone", String(64), nullable=False, default="UTC"),
        Column("role", String(63), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
        Column("last_login_at", UtcDateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    # Owner autocomplete (security/user_names.py): a prefix match on the lowercased display name.
    Index("ix_crmkit_user_display_name", func.lower(user.c.display_name).label("display_name_lower"),
          postgresql_ops={"display_name_lower": "text_pattern_ops"})
    Table(
        "crmkit_team", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("name", String(150), nullable=False, unique=True),
        Column("label", JsonDocument(), nullable=True),
        sqlite_autoincrement=True,
    )
    Table(
        "crmkit_team_member", metadata,
        Column("team_id", BigInteger(), primary_key=True),
        Column("user_id", BigInteger(), primary_key=True),
    )


def define_access(metadata: MetaData) -> None:
    """Permission-set grants and manual shares."""
    grant = Table(
        "crmkit_grant", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("permission_set", String(63), nullable=False),
        Column("user_id", BigInteger(), nullable=True),
        Column("role", String(63), nullable=True),
        Column("granted_at", UtcDateTime(), nullable=False),
        Column("granted_by", BigInteger(), nullable=True),
        sqlite_autoincrement=True,
    )
    # One of user_id / role is always NULL, and NULLs are distinct in a unique constraint:
    # partial unique indexes make each grant unique per user and per role.
    Index("ux_crmkit_grant_user", grant.c.permission_set, grant.c.user_id, unique=True,
          sqlite_where=grant.c.user_id.is_not(None), postgresql_where=grant.c.user_id.is_not(None))
    Index("ux_crmkit_grant_role", grant.c.permission_set, grant.c.role, unique=True,
          sqlite_where=grant.c.role.is_not(None), postgresql_where=grant.c.role.is_not(None))
    Index("ix_crmkit_grant_user", grant.c.user_id)
    share = Table(
        "crmkit_share", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("user_id", BigInteger(), nullable=True),
        Column("team_id", BigInteger(), nullable=True),
        Column("access", String(8), nullable=False),
        Column("granted_by", BigInteger(), nullable=True),
        Column("granted_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_share_user", share.c.object, share.c.user_id, share.c.record_id)
    Index("ix_crmkit_share_team", share.c.object, share.c.team_id, share.c.record_id)
    Index("ix_crmkit_share_record", share.c.object, share.c.record_id)


def define_sign_in(metadata: MetaData) -> None:
    """The security log, sign-in attempts, sessions and API tokens."""
    log = Table(
        "crmkit_security_log", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("at", UtcDateTime(), nullable=False),
        Column("event", String(63), nullable=False),
        Column("user_id", BigInteger(), nullable=True),
        Column("username", String(150), nullable=True),
        Column("address", String(64), nullable=True),
        Column("detail", JsonDocument(), nullable=True),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_security_log_at", log.c.at)
    attempt = Table(
        "crmkit_login_attempt", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("username", String(150), nullable=False),
        Column("address", String(64), nullable=True),
        Column("at", UtcDateTime(), nullable=False),
        Column("success", Boolean(), nullable=False),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_login_attempt_username", attempt.c.username, attempt.c.at)
    Index("ix_crmkit_login_attempt_address", attempt.c.address, attempt.c.at)
    session = Table(
        "crmkit_login_session", metadata,
        Column("token_hash", String(64), primary_key=True),
        Column("user_id", BigInteger(), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("last_seen_at", UtcDateTime(), nullable=False),
        Column("expires_at", UtcDateTime(), nullable=False),
        Column("address", String(64), nullable=True),
        Column("user_agent", Text(), nullable=True),
    )
    Index("ix_crmkit_login_session_user", session.c.user_id)
    Index("ix_crmkit_login_session_expires", session.c.expires_at)
    token = Table(
        "crmkit_api_token", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("user_id", BigInteger(), nullable=False),
        Column("name", String(150), nullable=False),
        Column("prefix", String(16), nullable=False),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("last_used_at", UtcDateTime(), nullable=True),
        Column("expires_at", UtcDateTime(), nullable=True),
        Column("revoked_at", UtcDateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_api_token_user", token.c.user_id)
