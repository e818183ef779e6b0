"""The workspace's system tables: saved list views, the default view per user, recent items.

Created with the other system tables (engine/tables.py `define_system_tables`): a database
opened by a crmkit that has them gains the missing tables on open, as every system table does.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, Text, UniqueConstraint

from crmkit.engine.columns import JsonDocument, RecordId, UtcDateTime


def define_workspace_tables(metadata: MetaData) -> None:
    """crmkit_saved_view, crmkit_default_view and crmkit_recent_item."""
    view = Table(
        "crmkit_saved_view", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("owner_id", BigInteger(), nullable=False),
        #: A plain name as the user typed it, or {language: text} like other labels.
        Column("label", JsonDocument(), nullable=False),
        Column("filter", JsonDocument(), nullable=True),
        Column("columns", JsonDocument(), nullable=False),
        Column("sort", JsonDocument(), nullable=False),
        Column("search", Text(), nullable=True),
        #: private | everyone | role | team
        Column("shared_with", String(8), nullable=False),
        Column("shared_role", String(63), nullable=True),
        Column("shared_team_id", BigInteger(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_saved_view_owner", view.c.object, view.c.owner_id)
    Index("ix_crmkit_saved_view_shared", view.c.object, view.c.shared_with)
    Table(
        "crmkit_default_view", metadata,
        Column("user_id", BigInteger(), primary_key=True),
        Column("object", String(63), primary_key=True),
        Column("view_id", BigInteger(), nullable=False),
    )
    recent = Table(
        "crmkit_recent_item", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("user_id", BigInteger(), nullable=False),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        #: viewed | edited
        Column("action", String(8), nullable=False),
        Column("at", UtcDateTime(), nullable=False),
        UniqueConstraint("user_id", "object", "record_id", name="ux_crmkit_recent_item_record"),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_recent_item_user", recent.c.user_id, recent.c.at, recent.c.id)
    Index("ix_crmkit_recent_item_object", recent.c.object, recent.c.record_id)
