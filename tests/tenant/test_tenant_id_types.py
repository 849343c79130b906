"""The runner's boundary guard and tenant_id's type (promise 5): a tenant table made after 005
whose tenant_id is a uuid through any depth of domains, in any schema, is bounded like a uuid
one (no user reaches another tenant, whatever the app's policies); one whose tenant_id is no
uuid (text, varchar, an array of uuids, a domain over text named `uuid` in another schema)
cannot be bounded by the boundary's `=`, and is not passed over in silence: the migration
applies as written and a WARNING under it names the table and the type.

A property over generated type chains against the real server, through psycopg2 and psql.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from supamigrate.connect.db import session
from supamigrate.executors.boundary_guard import NOTICE_PREFIX
from tenant.test_later_tables import (
    FILL,
    _apply,
    _drop,
    _fresh,
    _reach,
    bounded,  # noqa: F401 (a fixture)
)

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
BASES = {"uuid": True, "text": False, "varchar(40)": False, "uuid[]": False}


@st.composite
def tenant_types(draw: Any) -> tuple[str, str, bool]:
    """(the SQL making the type, tenant_id's type, whether it is a uuid underneath)."""
    base = draw(st.sampled_from(sorted(BASES)))
    sql, current = "create schema if not exists other;\n", base
    for depth in range(draw(st.integers(0, 3))):
        schema = draw(st.sampled_from(("public", "other")))
        # a domain named like uuid elsewhere: only its base decides
        name = draw(st.sampled_from((f"tid{depth}", "uuid")))
        name = f"{schema}.{name}"
        if name in sql:
            name = f"{schema}.tid{depth}"
        sql += f"create domain {name} as {current};\n"
        current = name
    return sql, current, BASES[base]


@settings(
    max_examples=60 if LONG else 6,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(made=tenant_types(), method=st.sampled_from(("psycopg2", "psql")))
# where it was found: a domain over a domain over uuid was not bounded
@example(
    made=(
        "create schema if not exists other;\ncreate domain public.tid0 as uuid;\n"
        "create domain other.uuid as public.tid0;\n",
        "other.uuid",
        True,
    ),
    method="psql",
)
def test_tenant_id_of_any_domain_depth_is_bounded_and_no_uuid_is_named(
    pg_server: Any,
    bounded: str,  # noqa: F811 (the fixture)
    made: tuple[str, str, bool],
    method: str,
) -> None:
    types, tenant_type, is_uuid = made
    sql = (
        f"{types}create table public.projects (id uuid primary key default gen_random_uuid(), "
        f"tenant_id {tenant_type}, user_id uuid, name text);\n"
        "create policy app on public.projects for all to authenticated "
        "using (true) with check (true);\n"
        "grant usage on schema other to anon, authenticated;\n"
    )
    if is_uuid:
        sql += FILL
    target = _fresh(pg_server, bounded)
    try:
        notices = _apply(target, sql, method)
        with session(target) as conn, conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_policy where polrelid = 'public.projects'::regclass "
                "and not polpermissive and polname like 'tenant boundary: %'"
            )
            restrictive = (cur.fetchone() or (0,))[0]
            if is_uuid:
                _reach(cur)
        if is_uuid:
            assert restrictive == 4, (sql, notices)
            assert any(f"{NOTICE_PREFIX} public.projects" in n for n in notices), notices
        else:
            assert restrictive == 0, sql
            named = [n for n in notices if "public.projects has tenant_id of type" in n]
            assert named and "WARNING" in named[0], (sql, notices)
    finally:
        _drop(pg_server, target)
