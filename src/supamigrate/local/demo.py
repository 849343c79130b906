"""A realistic pre-tenant app in the local database: auth users with their files, audit logs
and sessions, as many Supabase apps have before tenancy (so 001-005 have something to migrate),
with the app around them (per-user policies, profiles filled by the app's own signup trigger,
a storage bucket with per-user object policies, a view: supamigrate.local.demo_app).

`files`, `audit_logs` and `sessions` each have `id` and `user_id uuid` (nullable in audit_logs,
no foreign key, as in many real apps, so orphaned user ids occur). Rows are generated
server-side with generate_series: 200,000 rows take a second or two, not minutes. The tests'
platform fixtures use the same DDL and generators.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from supamigrate.errors import UsageError
from supamigrate.local.demo_app import add_avatars, create_app

DEMO_PREFIX = "demo"  # demo users are demo-<n>@example.com: how a second run finds them
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


def add_rows(cur: Any, table: str, users: Sequence[str], per_user: int) -> None:
    cur.execute(_ROWS[table], {"users": list(users), "per_user": per_user})


@dataclass(frozen=True)
class DemoSummary:
    users_added: int
    users_total: int
    rows: dict[str, int]  # table -> rows in it after seeding
    seconds: float

    def lines(self) -> list[str]:
        counts = ", ".join(f"{table} {count:,}" for table, count in self.rows.items())
        return [
            f"Demo app: {self.users_added:,} user(s) added ({self.users_total:,} in all); "
            f"rows: {counts}; {self.seconds:.1f} s."
        ]


# Per user: rows_per_user files, half as many audit log entries, a twentieth as many sessions.
_SHARE = {"files": 1.0, "audit_logs": 0.5, "sessions": 0.05}


def seed_demo_app(cur: Any, *, users: int, rows_per_user: int) -> DemoSummary:
    """Create the app's tables if missing, and the demo users that are missing with their rows.

    Idempotent: a second run adds nothing (users are found by their demo e-mail). Refused once
    the tenant migrations have run: the demo is the app *before* them.
    """
    if users < 0 or rows_per_user < 0:
        raise UsageError("users and rows_per_user must be zero or more.")
    started = time.perf_counter()
    cur.execute("select to_regclass('public.tenants') is not null")
    if cur.fetchone()[0]:
        raise UsageError(
            "public.tenants exists: the tenant migrations have run here, and the demo app is "
            "the app before them. Use a fresh database (`invoke db.reset`) to seed it."
        )
    missing = [t for t in PLATFORM_TABLES if not _exists(cur, f"public.{t}")]
    create_platform_tables(cur, missing)
    if not _exists(cur, "public.profiles"):
        create_app(cur, PLATFORM_TABLES)
    ids = _add_missing_users(cur, users)
    add_avatars(cur, ids)
    for table in PLATFORM_TABLES:
        add_rows(cur, table, ids, _per_user(table, rows_per_user))
    rows = {table: _count(cur, f"public.{table}") for table in PLATFORM_TABLES}
    total = _count(cur, "auth.users", f"email like '{DEMO_PREFIX}-%@example.com'")
    return DemoSummary(len(ids), total, rows, time.perf_counter() - started)


def _per_user(table: str, rows_per_user: int) -> int:
    return max(1, round(rows_per_user * _SHARE[table])) if rows_per_user else 0


def _add_missing_users(cur: Any, count: int) -> list[str]:
    """Demo users 1..count that do not exist yet, as GoTrue would insert them."""
    cur.execute(
        """
        insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at)
        select gen_random_uuid(), 'authenticated', 'authenticated', e.email,
               jsonb_build_object('full_name', (%(first)s::text[])[1 + e.n %% 8] || ' '
                                  || (%(last)s::text[])[1 + (e.n / 8) %% 8] || ' ' || e.n),
               now() - (e.n || ' hours')::interval
        from (select n, %(prefix)s || '-' || n || '@example.com' as email
              from generate_series(1, %(count)s) as n) as e
        where not exists (select 1 from auth.users u where u.email = e.email)
        returning id::text
        """,
        {"prefix": DEMO_PREFIX, "count": count, "first": _FIRST, "last": _LAST},
    )
    return [row[0] for row in cur.fetchall()]


_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]


def _exists(cur: Any, name: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (name,))
    return bool(cur.fetchone()[0])


def _count(cur: Any, table: str, where: str = "true") -> int:
    cur.execute(f"select count(*) from {table} where {where}")
    return int(cur.fetchone()[0])
