"""The shipped tenant migrations (001-005): idempotent, working with any set of platform tables."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.catalog import row_counts, snapshot
from helpers.platform_fixtures import (
    PLATFORM_TABLES,
    add_rows,
    create_platform_tables,
    create_users,
    populate,
)
from helpers.tenancy import act_as, apply
from supamigrate.connect.db import session

TABLE_SETS = [(), ("files",), ("audit_logs", "sessions"), PLATFORM_TABLES]


def _state(target: Any, tables: tuple[str, ...]) -> tuple[list[Any], dict[str, int]]:
    with session(target) as conn, conn.cursor() as cur:
        counted = ["public.tenants", "public.user_tenants", *(f"public.{t}" for t in tables)]
        return snapshot(cur), row_counts(cur, counted)


@pytest.mark.parametrize("tables", TABLE_SETS, ids=["none", "files", "audit+sessions", "all"])
def test_each_and_all_migrations_run_twice_with_no_change(db: Any, tables: tuple[str, ...]) -> None:
    """Every migration twice in a row, then all five again: same schema, same row counts."""
    with session(db) as conn, conn.cursor() as cur:
        populate(cur, tables=tables, users=15, rows_per_user=4)
    apply(db, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], rerun=True)
    first = _state(db, tables)
    apply(db, [1, 2, 3, 4, 5], rerun=True)
    assert _state(db, tables) == first
    tenants = first[1]["public.tenants"]
    assert tenants == 15  # one personal tenant per existing user, not two
    for table in tables:
        with session(db) as conn, conn.cursor() as cur:
            cur.execute(f"select count(*) from public.{table} where tenant_id is null")
            assert cur.fetchone() == (0,), table
            cur.execute(
                f"select relrowsecurity from pg_class where oid = 'public.{table}'::regclass"
            )
            assert cur.fetchone() == (True,)


def test_backfill_leaves_null_and_orphan_users_null_and_counts_them(db: Any) -> None:
    """Rows with no user or an unknown user keep a null tenant_id and are counted in a NOTICE."""
    with session(db) as conn, conn.cursor() as cur:
        users = populate(cur, users=3, rows_per_user=2)
        cur.execute(
            "insert into public.audit_logs (user_id, action) values (null, 'system'), (gen_random_uuid(), 'ghost')"
        )
        add_rows(cur, "files", ["00000000-0000-0000-0000-00000000dead"], 3)
    results = apply(db, [1, 2, 3])
    notices = "\n".join(results[2].notices)
    assert (
        "public.files: 6 row(s) given a tenant; left without one: 0 with no user_id, 3 whose user_id is not a user"
        in notices
    )
    assert (
        "public.audit_logs: 6 row(s) given a tenant; left without one: 1 with no user_id, 1 whose user_id is not a user"
        in notices
    )
    assert len(users) == 3


def test_new_user_gets_a_personal_tenant_and_files_get_the_default(db: Any) -> None:
    """Registering a user creates their tenant and owner membership; a file insert gets it."""
    with session(db) as conn, conn.cursor() as cur:
        create_platform_tables(cur)
    apply(db)
    with session(db) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into auth.users (id, email, raw_user_meta_data) values "
            "(gen_random_uuid(), 'ada@example.com', '{\"full_name\": \"Ada Lovelace\"}') returning id::text"
        )
        user = cur.fetchone()[0]
        cur.execute(
            "select t.name, t.kind, ut.role, ut.is_default from public.user_tenants ut "
            "join public.tenants t on t.id = ut.tenant_id where ut.user_id = %s",
            (user,),
        )
        assert cur.fetchall() == [("Ada Lovelace", "personal", "owner", True)]
        # As the user, through RLS: upload a file without saying which tenant.
        act_as(cur, "authenticated", user)
        cur.execute(
            "insert into public.files (user_id, name) values (%s, 'cv.pdf') returning tenant_id::text",
            (user,),
        )
        tenant = cur.fetchone()[0]
        cur.execute("select public.user_default_tenant_id()::text")
        assert cur.fetchone() == (tenant,)


def test_policies_use_per_query_subselects_and_helpers_are_locked_down(db: Any) -> None:
    """No policy calls auth.uid() per row; helpers are security definer with a fixed search_path."""
    with session(db) as conn, conn.cursor() as cur:
        create_platform_tables(cur)
    apply(db)
    with session(db) as conn, conn.cursor() as cur:
        cur.execute("select qual, with_check from pg_policies where schemaname = 'public'")
        for qual, check in cur.fetchall():
            for expr in (qual, check):
                if expr and "auth.uid()" in expr:
                    assert "SELECT auth.uid()" in expr, expr
        cur.execute(
            "select proname, prosecdef, proconfig from pg_proc where pronamespace = 'public'::regnamespace "
            "and proname in ('current_user_tenant_ids', 'current_user_admin_tenant_ids', 'user_default_tenant_id')"
        )
        rows = cur.fetchall()
        assert len(rows) == 3
        assert all(secdef and config == ['search_path=""'] for _, secdef, config in rows)
        cur.execute(
            "select has_function_privilege('anon', 'public.current_user_tenant_ids()', 'execute')"
        )
        assert cur.fetchone() == (False,)


def test_memberships_do_not_recurse(db: Any) -> None:
    """Reading user_tenants as a user works (no 'infinite recursion detected in policy')."""
    apply(db)
    with session(db) as conn, conn.cursor() as cur:
        [user] = create_users(cur, 1)
        act_as(cur, "authenticated", user)
        cur.execute("select role from public.user_tenants")
        assert cur.fetchall() == [("owner",)]
