"""Fixture schemas shaped like the platform tables a Supabase app may already have, and data.

`files`, `audit_logs` and `sessions` each have `id` and `user_id uuid` (nullable in audit_logs,
no foreign key, as in many real apps, so orphaned user ids occur). Data is generated server-side
with generate_series so a million rows take seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

PLATFORM_TABLES = ("files", "audit_logs", "sessions")

DDL = {
    "files": """
        create table public.files (
          id uuid primary key default gen_random_uuid(),
          user_id uuid not null,
          bucket text not null default 'uploads',
          name text not null,
          size_bytes bigint not null default 0,
          mime_type text,
          created_at timestamptz not null default now()
        )""",
    "audit_logs": """
        create table public.audit_logs (
          id bigint generated always as identity primary key,
          user_id uuid,
          action text not null,
          details jsonb not null default '{}'::jsonb,
          created_at timestamptz not null default now()
        )""",
    "sessions": """
        create table public.sessions (
          id uuid primary key default gen_random_uuid(),
          user_id uuid not null,
          user_agent text,
          ip inet,
          created_at timestamptz not null default now(),
          expires_at timestamptz
        )""",
}

# One row per (user, n): realistic-looking values derived from the series number.
_ROWS = {
    "files": """
        insert into public.files (user_id, bucket, name, size_bytes, mime_type, created_at)
        select u.id, 'uploads', 'doc-' || n || '.pdf', (n * 7919) %% 5000000, 'application/pdf',
               now() - (n || ' minutes')::interval
        from unnest(%(users)s::uuid[]) as u(id), generate_series(1, %(per_user)s) as n""",
    "audit_logs": """
        insert into public.audit_logs (user_id, action, details, created_at)
        select u.id, (array['login','upload','delete','share'])[1 + n %% 4],
               jsonb_build_object('n', n), now() - (n || ' seconds')::interval
        from unnest(%(users)s::uuid[]) as u(id), generate_series(1, %(per_user)s) as n""",
    "sessions": """
        insert into public.sessions (user_id, user_agent, ip, expires_at)
        select u.id, 'Mozilla/5.0 (test ' || n || ')', ('10.0.' || (n %% 250) || '.1')::inet,
               now() + interval '1 day'
        from unnest(%(users)s::uuid[]) as u(id), generate_series(1, %(per_user)s) as n""",
}


def create_platform_tables(cur: Any, tables: Iterable[str] = PLATFORM_TABLES) -> None:
    for table in tables:
        cur.execute(DDL[table])


def create_users(cur: Any, count: int, *, prefix: str = "user") -> list[str]:
    """Insert `count` auth users (as GoTrue would: email, metadata) and return their ids."""
    cur.execute(
        """
        insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at)
        select gen_random_uuid(), 'authenticated', 'authenticated',
               %(prefix)s || '-' || n || '@example.com',
               jsonb_build_object('full_name', 'User ' || n), now()
        from generate_series(1, %(count)s) as n
        returning id::text
        """,
        {"prefix": prefix, "count": count},
    )
    return [row[0] for row in cur.fetchall()]


def add_user_foreign_keys(cur: Any, tables: Iterable[str] = ("files", "sessions")) -> None:
    """Point user_id at auth.users with no index, as many real apps do (splinter: INFO)."""
    for table in tables:
        cur.execute(
            f"alter table public.{table} add constraint {table}_user_id_fkey "
            "foreign key (user_id) references auth.users (id) on delete cascade"
        )


def add_rows(cur: Any, table: str, users: Sequence[str], per_user: int) -> None:
    cur.execute(_ROWS[table], {"users": list(users), "per_user": per_user})


def populate(
    cur: Any,
    *,
    tables: Iterable[str] = PLATFORM_TABLES,
    users: int = 20,
    rows_per_user: int = 5,
) -> list[str]:
    """Create the tables, users and rows for each user in each table; return the user ids."""
    tables = list(tables)
    create_platform_tables(cur, tables)
    ids = create_users(cur, users)
    for table in tables:
        add_rows(cur, table, ids, rows_per_user)
    return ids
