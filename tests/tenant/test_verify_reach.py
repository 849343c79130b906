"""verify's RLS bypass check against generated function graphs (hypothesis, real server).

A chain of functions (each definer or invoker, in public or in a schema the API does not
serve, EXECUTE granted by default or revoked) ends in a leaf that reads the tenant table
statically, through SQL built at run time, or reads nothing of a tenant's. A signed-in user
then calls every function in the chain, as PostgREST would: where any returns more files
than the user may see, the boundary is crossed and verify must name a definer function;
verify names exactly the API-executable definer functions above a leaf that reads files or
runs dynamic SQL, and never an invoker one. The same for triggers on a tenant table whose
chain writes into a table every user reads.

Each example runs in one transaction that is rolled back; the checks are verify's own
(bypass_checks with the schemas and tables verify reads).
"""

from __future__ import annotations

import os
from typing import Any

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.platform_fixtures import populate
from helpers.tenancy import act_as, copy_shipped
from supamigrate.connect.db import session
from supamigrate.tenant.bypass import bypass_checks
from supamigrate.tenant.catalog import exposed_schemas, tenant_tables

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
SETTINGS = settings(
    max_examples=300 if LONG else 12,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LEAVES = {
    "static sql": ("sql", "select count(*) from public.files"),
    "static plpgsql": ("plpgsql", "begin return (select count(*) from public.files); end"),
    "dynamic": (
        "plpgsql",
        "declare n bigint; begin execute format('select count(*) from %I.%I', 'public', "
        "'fi' || 'les') into n; return n; end",
    ),
    "through a view": ("sql", "select count(*) from private.file_view"),
    "atomic": ("atomic", "select count(*) from public.files"),
    "nothing": ("sql", "select 0::bigint"),
}
# How a link calls the next one: a SQL string body, a BEGIN ATOMIC body (its calls are
# recorded dependencies, not text), plpgsql.
CALLS = {
    "sql": ("sql", "select {next}()"),
    "atomic": ("atomic", "select {next}()"),
    "plpgsql": ("plpgsql", "begin return {next}(); end"),
}


def _create(name: str, security: str, language: str, body: str) -> str:
    head = f"create function {name}() returns bigint security {security} set search_path = '' "
    if language == "atomic":
        return f"{head} language sql begin atomic {body}; end"
    return f"{head} language {language} as $f${body}$f$"


@pytest.fixture
def migrated(project: Any) -> Any:
    copy_shipped(project.root)
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=4, rows_per_user=2)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    return project


def _failures(cur: Any) -> list[str]:
    schemas = exposed_schemas(cur)
    return [
        c.detail
        for c in bypass_checks(cur, schemas, tenant_tables(cur, schemas))
        if not c.ok and c.name.startswith("RLS bypass")
    ]


def _private(cur: Any) -> None:
    cur.execute("create schema private")
    cur.execute("grant usage on schema private to anon, authenticated")
    cur.execute(
        "create view private.file_view with (security_invoker = on) as select * from public.files"
    )
    cur.execute("grant select on private.file_view to authenticated")


@st.composite
def chains(draw: Any) -> tuple[list[dict[str, Any]], str]:
    links = [
        {
            "definer": draw(st.booleans()),
            "schema": draw(st.sampled_from(("public", "private"))),
            "revoked": draw(st.booleans()),
            "calls": draw(st.sampled_from(sorted(CALLS))),
        }
        for _ in range(draw(st.integers(1, 4)))
    ]
    return links, draw(st.sampled_from(sorted(LEAVES)))


@SETTINGS
@given(chain=chains())
def test_a_definer_reaching_tenant_rows_fails_verify_wherever_it_is(
    migrated: Any, chain: tuple[list[dict[str, Any]], str]
) -> None:
    links, leaf = chain
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute("select user_id::text from public.user_tenants limit 1")
        user = cur.fetchone()[0]
        _private(cur)
        names = [f"{link['schema']}.link{i}" for i, link in enumerate(links)]
        for i in reversed(range(len(links))):
            if i == len(links) - 1:
                language, body = LEAVES[leaf]
            else:
                language, body = CALLS[links[i]["calls"]]
                body = body.format(next=names[i + 1])
            security = "definer" if links[i]["definer"] else "invoker"
            cur.execute(_create(names[i], security, language, body))
            if links[i]["revoked"]:
                cur.execute(
                    f"revoke execute on function {names[i]}() from public, anon, authenticated"
                )
        cur.execute("savepoint probe")
        act_as(cur, "authenticated", user)
        cur.execute("select count(*) from public.files")
        own = cur.fetchone()[0]
        leaks = []
        for name in names:
            cur.execute("savepoint call")
            try:
                cur.execute(f"select {name}()")
                if cur.fetchone()[0] > own:
                    leaks.append(name)
            except psycopg2.Error:
                cur.execute("rollback to savepoint call")
        cur.execute("rollback to savepoint probe")
        failures = _failures(cur)
        conn.rollback()
    named = {name for name in names if any(d.startswith(f"{name}()") for d in failures)}
    expected = {
        names[i]
        for i, link in enumerate(links)
        if link["definer"] and not link["revoked"] and leaf != "nothing"
    }
    assert named == expected, (failures, leaks)
    if leaks:  # what a user reads past RLS, verify names
        assert named, (leaks, failures)
    assert len(failures) == len(named), failures


TRIGGER_LEAVES = {
    "into the open feed": "insert into public.feed (payload) values (p)",
    "into a private log": "insert into private.log (payload) values (p)",
    "dynamic": "execute format('insert into %I.%I (payload) values ($1)', 'public', 'feed') "
    "using p",
}


@SETTINGS
@given(
    depth=st.integers(0, 3),
    leaf=st.sampled_from(sorted(TRIGGER_LEAVES)),
    definer=st.booleans(),
    schema=st.sampled_from(("public", "private")),
)
def test_a_trigger_copying_rows_where_all_read_them_fails_verify(
    migrated: Any, depth: int, leaf: str, definer: bool, schema: str
) -> None:
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute("select user_id::text from public.user_tenants limit 1")
        user = cur.fetchone()[0]
        _private(cur)
        cur.execute("create table public.feed (id serial primary key, payload jsonb)")
        cur.execute("alter table public.feed enable row level security")
        cur.execute(
            "create policy everyone on public.feed for select to authenticated using (true)"
        )
        cur.execute("create table private.log (id serial primary key, payload jsonb)")
        security = "definer" if definer else "invoker"
        body = TRIGGER_LEAVES[leaf]
        for i in reversed(range(depth)):
            cur.execute(
                f"create function {schema}.hop{i}(p jsonb) returns void language plpgsql "
                f"security {security} set search_path = '' as $f$begin {body}; end$f$"
            )
            body = f"perform {schema}.hop{i}(p)"
        cur.execute(
            f"create function {schema}.copy_file() returns trigger language plpgsql "
            f"security definer set search_path = '' as $f$declare p jsonb := to_jsonb(new); "
            f"begin {body}; return new; end$f$"
        )
        cur.execute(
            f"create trigger copy_file after update on public.files for each row "
            f"execute function {schema}.copy_file()"
        )
        cur.execute("update public.files set name = name")
        cur.execute("savepoint probe")
        act_as(cur, "authenticated", user)
        cur.execute("select count(distinct payload ->> 'tenant_id') from public.feed")
        tenants_seen = cur.fetchone()[0]
        cur.execute("rollback to savepoint probe")
        failures = [f for f in _failures(cur) if f.startswith("trigger copy_file")]
        conn.rollback()
    assert bool(failures) == (leaf != "into a private log"), failures
    if tenants_seen > 1:  # each tenant's rows where every user reads them: verify says so
        assert failures and "public.feed" in failures[0], failures
