"""Fixture schemas shaped like the platform tables a Supabase app may already have, and data.

The DDL and generators live in supamigrate.local.demo (also used by `seed_demo_app`), the app
around them (per-user policies, profiles with their signup trigger, storage, a view) in
supamigrate.local.demo_app; this module adds the test-only convenience of creating a chosen
subset with a few users.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from supamigrate.local.demo import (
    DDL,
    PLATFORM_TABLES,
    add_rows,
    create_platform_tables,
    create_users,
)
from supamigrate.local.demo_app import add_avatars, create_app

__all__ = [
    "DDL",
    "PLATFORM_TABLES",
    "add_rows",
    "create_platform_tables",
    "create_users",
    "populate",
]


def populate(
    cur: Any,
    *,
    tables: Iterable[str] = PLATFORM_TABLES,
    users: int = 20,
    rows_per_user: int = 5,
    app: bool = True,
) -> list[str]:
    """Create the tables (with the app around them unless `app` is false), users and rows for
    each user in each table; return the user ids."""
    tables = list(tables)
    create_platform_tables(cur, tables)
    if app:
        create_app(cur, tables)
    ids = create_users(cur, users)
    if app:
        add_avatars(cur, ids)
    for table in tables:
        add_rows(cur, table, ids, rows_per_user)
    return ids


def add_user_foreign_keys(cur: Any, tables: Iterable[str] = ("files", "sessions")) -> None:
    """Point user_id at auth.users with no index, as many real apps do (splinter: INFO)."""
    for table in tables:
        cur.execute(
            f"alter table public.{table} add constraint {table}_user_id_fkey "
            "foreign key (user_id) references auth.users (id) on delete cascade"
        )
