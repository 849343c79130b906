"""The local demo app: a realistic pre-tenant app that 001-005 then migrate."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.tenancy import apply
from supamigrate.connect.db import session
from supamigrate.errors import UsageError
from supamigrate.local.demo import seed_demo_app


def test_seed_is_realistic_and_idempotent(cur: Any) -> None:
    """Users carry emails and full names; rows per table follow the shares; a rerun adds none."""
    first = seed_demo_app(cur, users=30, rows_per_user=20)
    assert (first.users_added, first.users_total) == (30, 30)
    assert first.rows == {"files": 600, "audit_logs": 300, "sessions": 30}
    cur.execute(
        "select email, raw_user_meta_data->>'full_name' from auth.users order by created_at desc limit 1"
    )
    email, full_name = cur.fetchone()
    assert email == "demo-1@example.com" and full_name == "Grace Lovelace 1"
    again = seed_demo_app(cur, users=30, rows_per_user=20)
    assert (again.users_added, again.rows) == (0, first.rows)
    more = seed_demo_app(cur, users=31, rows_per_user=20)
    assert (more.users_added, more.users_total, more.rows["files"]) == (1, 31, 620)


def test_seed_is_refused_after_the_tenant_migrations(db: Any) -> None:
    """Once 001 has run, seeding the pre-tenant app is refused, naming the way back."""
    apply(db, [1])
    with session(db) as conn, conn.cursor() as cur, pytest.raises(UsageError, match=r"db\.reset"):
        seed_demo_app(cur, users=1, rows_per_user=1)


def test_a_seeded_app_migrates(db: Any) -> None:
    """001-005 give every seeded row its owner's tenant (the seed's default size and its
    speed are measured in benchmarks/seed_speed.py)."""
    with session(db) as conn, conn.cursor() as cur:
        summary = seed_demo_app(cur, users=200, rows_per_user=10)
    assert summary.rows["files"] == 2000 and summary.users_total == 200
    apply(db)
    with session(db) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from public.files f where f.tenant_id is distinct from "
            "(select ut.tenant_id from public.user_tenants ut where ut.user_id = f.user_id)"
        )
        assert cur.fetchone() == (0,)


def test_seed_has_the_shape_of_a_supabase_app(cur: Any) -> None:
    """Per-user policies on each table, profiles filled by the app's own signup trigger, an
    avatars bucket with per-user object policies, a security-invoker view."""
    seed_demo_app(cur, users=5, rows_per_user=2)
    cur.execute(
        "select tablename, count(*) from pg_policies where schemaname in ('public', 'storage') "
        "group by 1 order by 1"
    )
    assert cur.fetchall() == [
        ("audit_logs", 1),
        ("files", 1),
        ("objects", 2),
        ("profiles", 2),
        ("sessions", 2),
    ]
    cur.execute(
        "select (select count(*) from public.profiles), (select count(*) from storage.objects), "
        "(select tgname from pg_trigger where tgrelid = 'auth.users'::regclass "
        " and not tgisinternal), "
        "(select reloptions from pg_class where oid = 'public.file_stats'::regclass)"
    )
    assert cur.fetchone() == (5, 5, "on_auth_user_created", ["security_invoker=on"])
