"""verify against generated foreign keys from a tenant table to a table outside the boundary
(hypothesis, real server).

`public.files` gets a key to the app's `public.cards` (one card per user, RLS on), with a
generated delete action; the app's policies on cards may or may not let a user delete their
own card. A user who has left a tenant deletes their card, as PostgREST would: where that
changes the left tenant's files row (a cascade or set null runs past RLS), verify must warn
about the key; where it cannot, verify says nothing about it.
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
ACTIONS = ("cascade", "set null", "restrict", "no action")


@pytest.fixture
def migrated(project: Any) -> Any:
    return migrated_project(project, users=3, rows_per_user=1)


@settings(
    max_examples=60 if LONG else 6,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    action=st.sampled_from(ACTIONS),
    may_delete=st.sampled_from(("own card", "all", "none")),
)
def test_a_cascade_from_outside_the_boundary_is_named(
    migrated: Any, action: str, may_delete: str
) -> None:
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute(
            "select a.user_id::text, b.tenant_id::text from public.user_tenants a "
            "join public.user_tenants b on b.tenant_id <> a.tenant_id limit 1"
        )
        user, left = cur.fetchone()
        cur.execute(
            "create table public.cards (id uuid primary key default gen_random_uuid(), "
            "owner uuid not null default auth.uid())"
        )
        cur.execute("alter table public.cards enable row level security")
        cur.execute("create policy see on public.cards for select to authenticated using (true)")
        if may_delete != "none":
            mine = "owner = (select auth.uid())" if may_delete == "own card" else "true"
            cur.execute(
                f"create policy drop_card on public.cards for delete to authenticated "
                f"using ({mine})"
            )
        cur.execute("insert into public.cards (owner) values (%s) returning id::text", (user,))
        (card,) = cur.fetchone()
        cur.execute(
            f"alter table public.files add column card uuid "
            f"references public.cards (id) on delete {action}"
        )
        # the user's row in a tenant they are not (or no longer) a member of
        cur.execute(
            "insert into public.files (user_id, tenant_id, name, card) "
            "values (%s, %s, 'left behind', %s) returning id::text",
            (user, left, card),
        )
        (row,) = cur.fetchone()
        cur.execute("savepoint probe")
        act_as(cur, "authenticated", user)
        try:
            cur.execute("delete from public.cards where id = %s", (card,))
        except psycopg2.Error:
            cur.execute("rollback to savepoint probe")
        cur.execute("reset role")
        cur.execute("select card is null from public.files where id = %s", (row,))
        after = cur.fetchone()
        crossed = after is None or after[0]  # deleted, or its key set null
        cur.execute("rollback to savepoint probe")
        warned = bypass_findings(cur, "cascade across the boundary")
        conn.rollback()
    door = action in ("cascade", "set null") and may_delete != "none"
    assert crossed == door  # the hazard is real: the left tenant's row changed
    assert bool(warned) == door, [c.detail for c in warned]
    assert all("public.files" in c.detail and "public.cards" in c.detail for c in warned)
