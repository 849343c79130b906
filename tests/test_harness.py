"""The harness hands each test its own database, cloned from the shim template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helpers.platform_fixtures import PLATFORM_TABLES, populate
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget


def _tables(target: DbTarget) -> set[str]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('public', 'auth')"
        )
        return {row[0] for row in cur.fetchall()}


def test_databases_are_isolated(make_db: Callable[[], DbTarget]) -> None:
    """What one database gets is invisible in another; both start with only the shim."""
    first, second = make_db(), make_db()
    assert first.database != second.database
    with session(first) as conn, conn.cursor() as cur:
        populate(cur, users=3, rows_per_user=2)
    assert {f"public.{t}" for t in PLATFORM_TABLES} <= _tables(first)
    assert _tables(second) == {"auth.users"}


def test_populate_makes_realistic_rows(cur: Any) -> None:
    """The generator gives every user the requested number of rows in each table."""
    users = populate(cur, users=50, rows_per_user=4)
    assert len(set(users)) == 50
    for table in PLATFORM_TABLES:
        cur.execute(f"select count(*), count(distinct user_id) from public.{table}")
        assert cur.fetchone() == (200, 50)


def test_connected_as_non_superuser(cur: Any, pg_server: Any) -> None:
    """Tests act as the Supabase-like postgres role, not as the bootstrap superuser."""
    cur.execute("select current_user, usesuper from pg_user where usename = current_user")
    assert cur.fetchone() == ("postgres", pg_server.server is None)
