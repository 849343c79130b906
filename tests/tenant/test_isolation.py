"""Row Level Security isolates tenants: a property test over random users, tenants and rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.platform_fixtures import PLATFORM_TABLES, create_platform_tables
from helpers.tenancy import act_as, apply
from supamigrate.connect.db import session

ROLES = ("owner", "admin", "member")


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    """Users, tenants, memberships (user -> {tenant: role}) and rows (table, tenant, owner)."""
    n_users = draw(st.integers(2, 5))
    n_tenants = draw(st.integers(1, 4))
    memberships = [
        draw(
            st.dictionaries(
                st.integers(0, n_tenants - 1), st.sampled_from(ROLES), max_size=n_tenants
            )
        )
        for _ in range(n_users)
    ]
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(PLATFORM_TABLES),
                st.integers(0, n_tenants - 1),
                st.integers(0, n_users - 1),
            ),
            max_size=25,
        )
    )
    return {"users": n_users, "tenants": n_tenants, "memberships": memberships, "rows": rows}


@pytest.fixture(scope="module")
def migrated(pg_server: Any) -> Any:
    """One database with platform tables and all four migrations; examples roll back."""
    from supamigrate.connect.db import session as db_session

    name = f"iso_{uuid.uuid4().hex[:8]}"
    with db_session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            f"create database {name} template supamigrate_template owner {pg_server.user.user}"
        )
    target = pg_server.user.with_database(name)
    with session(target) as conn, conn.cursor() as cur:
        create_platform_tables(cur)
    apply(target)
    yield target
    with db_session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database {name} with (force)")


def _setup(cur: Any, world: dict[str, Any]) -> tuple[list[str], list[str], dict[str, set[str]]]:
    users = [str(uuid.uuid4()) for _ in range(world["users"])]
    tenants = [str(uuid.uuid4()) for _ in range(world["tenants"])]
    for user in users:
        cur.execute(
            "insert into auth.users (id, email) values (%s, %s)", (user, f"{user}@example.com")
        )
    # The sign-up trigger gave each a personal tenant; this world decides memberships itself.
    cur.execute("delete from public.tenants where kind = 'personal'")
    for index, tenant in enumerate(tenants):
        cur.execute(
            "insert into public.tenants (id, name, slug) values (%s, %s, %s)",
            (tenant, f"T{index}", f"t-{tenant}"),
        )
    for user, member_of in zip(users, world["memberships"], strict=True):
        for tenant_index, role in member_of.items():
            cur.execute(
                "insert into public.user_tenants (user_id, tenant_id, role) values (%s, %s, %s)",
                (user, tenants[tenant_index], role),
            )
    rows: dict[str, set[str]] = {t: set() for t in PLATFORM_TABLES}
    for table, tenant_index, owner in world["rows"]:
        cur.execute(
            f"insert into public.{table} (user_id, tenant_id, {_text_column(table)}) values (%s, %s, 'x') returning id::text",
            (users[owner], tenants[tenant_index]),
        )
        rows[table].add(f"{tenants[tenant_index]}:{cur.fetchone()[0]}")
    return users, tenants, rows


def _text_column(table: str) -> str:
    return {"files": "name", "audit_logs": "action", "sessions": "user_agent"}[table]


def _visible(cur: Any, table: str) -> set[str]:
    cur.execute(f"select tenant_id::text || ':' || id::text from public.{table}")
    return {row[0] for row in cur.fetchall()}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds())
def test_users_see_and_change_only_their_tenants(migrated: Any, world: dict[str, Any]) -> None:
    """Each user reads, updates and deletes exactly their tenants' rows and cannot write elsewhere;
    anon sees nothing; service_role sees everything."""
    import psycopg2

    with session(migrated) as conn, conn.cursor() as cur:
        users, tenants, rows = _setup(cur, world)
        cur.execute("savepoint world")
        for user, member_of in zip(users, world["memberships"], strict=True):
            mine = {tenants[i] for i in member_of}
            act_as(cur, "authenticated", user)
            cur.execute("select id::text from public.tenants")
            assert {r[0] for r in cur.fetchall()} == mine
            for table in PLATFORM_TABLES:
                expected = {r for r in rows[table] if r.split(":")[0] in mine}
                assert _visible(cur, table) == expected, (table, user)
                column = _text_column(table)
                cur.execute(
                    f"update public.{table} set {column} = 'touched' returning tenant_id::text"
                )
                assert {r[0] for r in cur.fetchall()} <= mine
                cur.execute(
                    f"delete from public.{table} returning tenant_id::text || ':' || id::text"
                )
                assert {r[0] for r in cur.fetchall()} == expected
                cur.execute("rollback to savepoint world")
                act_as(cur, "authenticated", user)
            for foreign in set(tenants) - mine:
                cur.execute("savepoint attempt")
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(
                        "insert into public.files (user_id, tenant_id, name) values (%s, %s, 'x')",
                        (user, foreign),
                    )
                cur.execute("rollback to savepoint attempt")
            cur.execute("rollback to savepoint world")
        act_as(cur, "anon")
        for table in (*PLATFORM_TABLES, "tenants", "user_tenants"):
            cur.execute(f"select count(*) from public.{table}")
            assert cur.fetchone() == (0,), table
        cur.execute("rollback to savepoint world")
        act_as(cur, "service_role")
        for table in PLATFORM_TABLES:
            assert _visible(cur, table) == rows[table]
        conn.rollback()
