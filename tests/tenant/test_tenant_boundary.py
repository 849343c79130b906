"""The tenant boundary holds whatever policies the app already has (a hypothesis property over
generated app policies), signups find their tenant, and leaving a tenant takes effect at once.

Every check acts through PostgREST's door: `set local role authenticated|anon` plus the JWT
claims as settings, on a database where `postgres` is not a superuser.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.platform_fixtures import PLATFORM_TABLES, populate
from helpers.tenancy import act_as, apply
from supamigrate.connect.db import session
from supamigrate.local.demo_app import create_app

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
ROLES = ("anon", "authenticated", "public")
# The grammar of the app's expressions: always, never, owner checks, exists on another table,
# JWT claims, role tests.
EXPRESSIONS = (
    "true",
    "false",
    "(select auth.uid()) = user_id",
    "auth.uid() = user_id",
    "user_id is not null",
    "exists (select 1 from public.profiles p where p.id = (select auth.uid()))",
    "(auth.jwt() ->> 'role') = 'authenticated'",
    "auth.role() = 'anon'",
    "current_user = 'authenticated'",
)
TENANCY_EXPRESSIONS = {
    "tenants": ("true", "auth.uid() is not null", "kind = 'team'"),
    "user_tenants": ("true", "(select auth.uid()) = user_id", "auth.role() = 'authenticated'"),
}
# A required value per table, so a user's own insert can succeed.
INSERTS = {
    "files": "insert into public.files (user_id, name) values (%s, 'new.pdf')",
    "audit_logs": "insert into public.audit_logs (user_id, action) values (%s, 'login')",
    "sessions": "insert into public.sessions (user_id, user_agent) values (%s, 'probe')",
}
USERS = 3  # A and B get their own tenants; C joins A's tenant after the migrations


@st.composite
def app_policies(draw: Any) -> dict[str, Any]:
    """Per table: RLS on or off, and the app's policies (permissive or restrictive, any
    command, any of anon/authenticated/public, USING and WITH CHECK from the grammar)."""
    tables = {}
    for table in PLATFORM_TABLES:
        policies = []
        for _ in range(draw(st.integers(0, 3))):
            cmd = draw(st.sampled_from(("select", "insert", "update", "delete", "all")))
            using = None if cmd == "insert" else draw(st.sampled_from(EXPRESSIONS))
            check = (
                draw(st.none() | st.sampled_from(EXPRESSIONS))
                if cmd in ("update", "all")
                else draw(st.sampled_from(EXPRESSIONS))
                if cmd == "insert"
                else None
            )
            policies.append(
                {
                    "kind": draw(st.sampled_from(("permissive", "restrictive"))),
                    "cmd": cmd,
                    "role": draw(st.sampled_from(ROLES)),
                    "using": using,
                    "check": check,
                }
            )
        tables[table] = {"rls": bool(policies) or draw(st.booleans()), "policies": policies}
    # Policies the app adds to the tenancy tables after the migrations (membership
    # expressions are about user_id there too).
    for table in ("tenants", "user_tenants"):
        later = []
        for _ in range(draw(st.integers(0, 2))):
            cmd = draw(st.sampled_from(("select", "insert", "update", "delete", "all")))
            grammar = st.sampled_from(TENANCY_EXPRESSIONS[table])
            later.append(
                {
                    "kind": "permissive",
                    "cmd": cmd,
                    "role": draw(st.sampled_from(ROLES)),
                    "using": None if cmd == "insert" else draw(grammar),
                    "check": draw(grammar) if cmd in ("insert", "update", "all") else None,
                }
            )
        tables[table] = {"rls": True, "policies": later}
    return tables


@pytest.fixture(scope="module")
def template(pg_server: Any) -> Iterator[str]:
    """A template database: the pre-tenant app (profiles, signup trigger, storage) with users
    and rows, and no policy on the platform tables (each example writes its own)."""
    name = f"bnd_{uuid.uuid4().hex[:8]}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name} template supamigrate_template owner postgres")
    target = pg_server.user.with_database(name)
    with session(target) as conn, conn.cursor() as cur:
        create_app(cur, [])
        populate(cur, users=USERS, rows_per_user=2, app=False)
        cur.execute("insert into public.audit_logs (user_id, action) values (null, 'cron')")
    yield name
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database {name} with (force)")


def _policy_sql(table: str, index: int, p: dict[str, Any]) -> str:
    sql = f"create policy p{index} on public.{table} as {p['kind']} for {p['cmd']} to {p['role']}"
    if p["using"]:
        sql += f" using ({p['using']})"
    if p["check"]:
        sql += f" with check ({p['check']})"
    return sql


def _rights(cur: Any, role: str, user: str | None) -> dict[str, dict[str, set[str]]]:
    """What `user` may do on each table: rows read, updated, deleted; own insert (as 'own')."""
    rights: dict[str, dict[str, set[str]]] = {}
    for table in PLATFORM_TABLES:
        seen: dict[str, set[str]] = {}
        for action, sql in (
            ("read", f"select id::text from public.{table}"),
            ("update", f"update public.{table} set user_id = user_id returning id::text"),
            ("delete", f"delete from public.{table} returning id::text"),
        ):
            seen[action] = _attempt(cur, role, user, sql)
        if user is not None:
            ok = _attempt(
                cur, role, user, INSERTS[table].replace("values (%s", f"values ('{user}'")
            )
            seen["insert"] = {"own"} if ok is not None else set()
        rights[table] = seen
    return rights


def _attempt(cur: Any, role: str, user: str | None, sql: str) -> set[str]:
    """Rows a statement returns as `role`, undone; an error counts as no rows."""
    cur.execute("savepoint step")
    try:
        act_as(cur, role, user)
        cur.execute(sql)
        return {str(r[0]) for r in cur.fetchall()} if cur.description else {"done"}
    except psycopg2.Error:
        return set()
    finally:
        cur.execute("rollback to savepoint step")


def _tenants(cur: Any) -> tuple[dict[str, set[str]], dict[str, dict[str, str]]]:
    """(user -> their tenants, table -> row id -> its tenant), as postgres."""
    cur.execute("select user_id::text, tenant_id::text from public.user_tenants")
    member: dict[str, set[str]] = {}
    for user, tenant in cur.fetchall():
        member.setdefault(user, set()).add(tenant)
    rows = {}
    for table in PLATFORM_TABLES:
        cur.execute(f"select id::text, coalesce(tenant_id::text, '') from public.{table}")
        rows[table] = dict(cur.fetchall())
    return member, rows


@settings(
    max_examples=200 if LONG else 8,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(app=app_policies())
def test_no_app_policy_widens_the_boundary(pg_server: Any, template: str, app: Any) -> None:
    """Whatever the app's policies, after the migrations no user reads, updates, moves,
    deletes or inserts a row of a tenant they are not in; anon reaches no tenant row; what the
    app let a user do to rows of their own tenants still works."""
    name = f"bnd_{uuid.uuid4().hex[:8]}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name} template {template} owner postgres")
    target = pg_server.user.with_database(name)
    try:
        _check(target, app)
    finally:
        with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"drop database {name} with (force)")


def _check(target: Any, app: dict[str, Any]) -> None:
    with session(target) as conn, conn.cursor() as cur:
        for table in PLATFORM_TABLES:
            spec = app[table]
            if spec["rls"]:
                cur.execute(f"alter table public.{table} enable row level security")
            for index, policy in enumerate(spec["policies"]):
                cur.execute(_policy_sql(table, index, policy))
        cur.execute("select id::text from auth.users order by email")
        users = [r[0] for r in cur.fetchall()]
        conn.commit()
        before = {u: _rights(cur, "authenticated", u) for u in users}
        conn.rollback()
    apply(target)
    with session(target) as conn, conn.cursor() as cur:
        for table in ("tenants", "user_tenants"):
            for index, policy in enumerate(app[table]["policies"]):
                cur.execute(_policy_sql(table, index, policy))
        a, _, c = users
        cur.execute(
            "insert into public.user_tenants (user_id, tenant_id, role) "
            "select %s, tenant_id, 'member' from public.user_tenants where user_id = %s",
            (c, a),
        )
        member, tenant_of = _tenants(cur)
        for user in users:
            mine = member[user]
            after = _rights(cur, "authenticated", user)
            for table in PLATFORM_TABLES:
                inside = {r for r, t in tenant_of[table].items() if t in mine}
                for action in ("read", "update", "delete"):
                    got = after[table][action]
                    assert got <= inside, (table, action, user, app[table])
                    kept = before[user][table][action] & inside
                    assert kept <= got, (table, action, user, app[table])
                assert before[user][table]["insert"] <= after[table]["insert"], (table, app)
                _no_write_elsewhere(cur, user, table, mine, member, tenant_of[table], app)
            _tenancy_tables(cur, user, mine, member, app)
        anon = _rights(cur, "anon", None)
        assert all(not got for per in anon.values() for got in per.values()), anon
        for table in ("tenants", "user_tenants"):
            assert not _attempt(cur, "anon", None, f"select 1 from public.{table}")
            for sql in (
                f"update public.{table} set created_at = now() returning 1",
                f"delete from public.{table} returning 1",
            ):
                assert not _attempt(cur, "anon", None, sql), (table, app[table])


def _no_write_elsewhere(
    cur: Any,
    user: str,
    table: str,
    mine: set[str],
    member: dict[str, set[str]],
    tenant_of: dict[str, str],
    app: Any,
) -> None:
    """No insert into, and no move of a row to, a tenant the user is not in."""
    others = {t for ts in member.values() for t in ts} - mine
    insert = (
        INSERTS[table]
        .replace("(user_id,", "(tenant_id, user_id,")
        .replace("values (%s", "values (%s, %s")
    )
    own = [r for r, t in tenant_of.items() if t in mine][:1]
    for tenant in sorted(others):
        for owner in sorted(member):
            done = _attempt(
                cur, "authenticated", user, cur.mogrify(insert, (tenant, owner)).decode()
            )
            assert not done, ("insert into another tenant", table, app[table])
        for row in own:
            sql = cur.mogrify(
                f"update public.{table} set tenant_id = %s where id::text = %s returning id",
                (tenant, row),
            ).decode()
            assert not _attempt(cur, "authenticated", user, sql), ("move", table, app[table])


def _tenancy_tables(
    cur: Any, user: str, mine: set[str], member: dict[str, set[str]], app: Any
) -> None:
    """Whatever the app added to tenants and user_tenants: only the user's tenants are seen,
    changed or removed; no membership is made in, or moved to, another tenant."""
    every = {t for ts in member.values() for t in ts}
    seen = _attempt(cur, "authenticated", user, "select id::text from public.tenants")
    assert seen <= mine, ("tenants", app["tenants"])
    for action, sql in (
        ("read", "select tenant_id::text from public.user_tenants"),
        ("update", "update public.user_tenants set role = role returning tenant_id::text"),
        ("delete", "delete from public.user_tenants returning tenant_id::text"),
    ):
        got = _attempt(cur, "authenticated", user, sql)
        assert got <= mine, ("user_tenants", action, app["user_tenants"])
    for table, sql in (
        ("tenants", "update public.tenants set name = 'x' returning id::text"),
        ("tenants", "delete from public.tenants returning id::text"),
    ):
        assert _attempt(cur, "authenticated", user, sql) <= mine, (table, app[table])
    for tenant in sorted(every - mine):
        join = cur.mogrify(
            "insert into public.user_tenants (user_id, tenant_id, role) "
            "values (%s, %s, 'owner') returning 1",
            (user, tenant),
        ).decode()
        assert not _attempt(cur, "authenticated", user, join), ("join", app["user_tenants"])
        move = cur.mogrify(
            "update public.user_tenants set tenant_id = %s where user_id = %s returning 1",
            (tenant, user),
        ).decode()
        assert not _attempt(cur, "authenticated", user, move), ("move", app["user_tenants"])
    squat = cur.mogrify(
        "insert into public.tenants (name, slug, kind) values ('t', %s, 'personal') returning 1",
        (f"personal-{uuid.uuid4().hex}",),
    ).decode()
    assert not _attempt(cur, "authenticated", user, squat), ("squat", app["tenants"])
