"""verify against generated triggers and rules on a table the API writes (hypothesis, real
server).

A table every signed-in user may insert into (`public.feed`, RLS on, the app's own insert
policy) gets a trigger (BEFORE or AFTER, its function definer or invoker, calling 0-2 invoker
hops) whose last step puts a row into public.files with the tenant the writer named, or into
a private log, or does it through SQL built at run time. A user of one tenant then inserts a
feed row naming another tenant, as PostgREST would. Where a files row lands in the other
tenant, verify must name the trigger; it names exactly the definer triggers that reach a
tenant table or run dynamic SQL, never an invoker one (RLS bounds what it does).

Found on the shape users have: a definer `log_feedback` trigger wrote into another tenant's
audit log while verify passed (definer functions were checked only where the API may execute
them, and a trigger's function needs no EXECUTE grant).
"""

from __future__ import annotations

import os
from typing import Any

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.tenancy import act_as, bypass_findings, migrated_project
from supamigrate.connect.db import session

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
SETTINGS = settings(
    max_examples=200 if LONG else 10,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LEAVES = {
    "into files": "insert into public.files (user_id, tenant_id, name) "
    "values (p_user, p_tenant, 'planted')",
    "into a private log": "insert into private.log (tenant_id) values (p_tenant)",
    "dynamic": "execute format('insert into %I.%I (user_id, tenant_id, name) values ($1, $2, "
    "''planted'')', 'public', 'fi' || 'les') using p_user, p_tenant",
}


@pytest.fixture
def migrated(project: Any) -> Any:
    return migrated_project(project, users=4, rows_per_user=2)


@SETTINGS
@given(
    depth=st.integers(0, 2),
    leaf=st.sampled_from(sorted(LEAVES)),
    definer=st.booleans(),
    timing=st.sampled_from(("before", "after")),
)
def test_a_definer_trigger_on_a_table_the_api_writes_fails_verify(
    migrated: Any, depth: int, leaf: str, definer: bool, timing: str
) -> None:
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select a.user_id::text, b.tenant_id::text from public.user_tenants a "
            "join public.user_tenants b on b.tenant_id <> a.tenant_id and b.user_id <> a.user_id "
            "limit 1"
        )
        user, other = cur.fetchone()
        cur.execute("create schema private")
        cur.execute("create table private.log (id serial primary key, tenant_id uuid)")
        cur.execute(
            "create table public.feed (id serial primary key, "
            "author uuid default auth.uid(), target uuid)"
        )
        cur.execute("alter table public.feed enable row level security")
        cur.execute(
            "create policy send on public.feed for insert to authenticated "
            "with check (author = (select auth.uid()))"
        )
        body = LEAVES[leaf]
        for i in reversed(range(depth)):
            cur.execute(
                f"create function private.hop{i}(p_user uuid, p_tenant uuid) returns void "
                "language plpgsql security invoker set search_path = '' "
                f"as $f$begin {body}; end$f$"
            )
            body = f"perform private.hop{i}(p_user, p_tenant)"
        security = "definer" if definer else "invoker"
        cur.execute(
            "create function public.on_feed() returns trigger language plpgsql "
            f"security {security} set search_path = '' as $f$declare p_user uuid := new.author; "
            f"p_tenant uuid := new.target; begin {body}; return new; end$f$"
        )
        cur.execute(
            f"create trigger feed_fanout {timing} insert on public.feed "
            "for each row execute function public.on_feed()"
        )
        cur.execute("savepoint probe")
        act_as(cur, "authenticated", user)
        try:
            cur.execute("insert into public.feed (target) values (%s)", (other,))
        except psycopg2.Error:
            cur.execute("rollback to savepoint probe")
        cur.execute("reset role")
        cur.execute(
            "select count(*) from public.files where name = 'planted' and tenant_id = %s",
            (other,),
        )
        crossed = cur.fetchone()[0] > 0
        cur.execute("rollback to savepoint probe")
        failures = [c.detail for c in bypass_findings(cur, "RLS bypass: definer trigger")]
        conn.rollback()
    named = any("feed_fanout on public.feed" in d for d in failures)
    door = definer and leaf != "into a private log"
    assert crossed == door  # the hazard is real: a definer trigger crosses, an invoker one not
    assert named == door, failures


@SETTINGS
@given(
    instead=st.booleans(),
    into_files=st.booleans(),
)
def test_a_rule_on_a_table_the_api_writes_fails_verify(
    migrated: Any, instead: bool, into_files: bool
) -> None:
    """A rule's action runs with its table owner's rights (the migrator, past RLS): where the
    action writes files with the writer's tenant of choice, the row crosses, and verify names
    the rule; a rule into a private log is none."""
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select a.user_id::text, b.tenant_id::text from public.user_tenants a "
            "join public.user_tenants b on b.tenant_id <> a.tenant_id and b.user_id <> a.user_id "
            "limit 1"
        )
        user, other = cur.fetchone()
        cur.execute("create schema private")
        cur.execute("create table private.log (id serial primary key, tenant_id uuid)")
        cur.execute("grant usage on schema private to authenticated")
        cur.execute("grant insert on private.log to authenticated")
        cur.execute("grant usage on sequence private.log_id_seq to authenticated")
        cur.execute(
            "create table public.feed (id serial primary key, "
            "author uuid default auth.uid(), target uuid)"
        )
        cur.execute("alter table public.feed enable row level security")
        cur.execute(
            "create policy send on public.feed for insert to authenticated "
            "with check (author = (select auth.uid()))"
        )
        action = (
            "insert into public.files (user_id, tenant_id, name) "
            "values (new.author, new.target, 'planted')"
            if into_files
            else "insert into private.log (tenant_id) values (new.target)"
        )
        kind = "instead" if instead else "also"
        cur.execute(f"create rule feed_rule as on insert to public.feed do {kind} ({action})")
        cur.execute("savepoint probe")
        act_as(cur, "authenticated", user)
        try:
            cur.execute("insert into public.feed (target) values (%s)", (other,))
        except psycopg2.Error:
            cur.execute("rollback to savepoint probe")
        cur.execute("reset role")
        cur.execute(
            "select count(*) from public.files where name = 'planted' and tenant_id = %s",
            (other,),
        )
        crossed = cur.fetchone()[0] > 0
        cur.execute("rollback to savepoint probe")
        failures = [c.detail for c in bypass_findings(cur, "RLS bypass: rule")]
        conn.rollback()
    door = into_files
    assert crossed == door
    assert any("feed_rule on public.feed" in d for d in failures) == door, failures
