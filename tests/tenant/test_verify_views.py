"""verify against generated chains of views over a tenant table (hypothesis, real server).

A chain of views (each reading as its owner or security_invoker, in public or in a schema the
API does not serve but may use, SELECT granted to the API roles or revoked) ends at
public.files. A signed-in user reads every view of the chain, as PostgREST would (an
invoker view in public reads the rest with the caller's rights): where one returns more rows
than the user may see, verify must name a view of the chain; and it names exactly the owner-
rights views the API roles may read (in public by the security_definer_view lint, elsewhere
by the bypass check), never an invoker one or one nobody may read.

Found on the shape users have: `public.team_files with (security_invoker)` over
`private.all_files` (owner's rights, granted to authenticated) gave every user every
tenant's files while verify passed.
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
from supamigrate.tenant.lints import lints

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
SETTINGS = settings(
    max_examples=200 if LONG else 10,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def migrated(project: Any) -> Any:
    copy_shipped(project.root)
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=4, rows_per_user=2)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    return project


def _named(cur: Any) -> list[str]:
    """What verify fails on views: the bypass check's and the definer-view lint's findings."""
    schemas = exposed_schemas(cur)
    found = [
        c.detail
        for c in bypass_checks(cur, schemas, tenant_tables(cur, schemas))
        if not c.ok and c.name == "RLS bypass: view outside the API"
    ]
    found += [
        c.detail for c in lints(cur, schemas) if not c.ok and "security_definer_view" in c.name
    ]
    return found


links = st.lists(
    st.fixed_dictionaries(
        {
            "invoker": st.booleans(),
            "schema": st.sampled_from(("public", "private")),
            "granted": st.booleans(),
            # how the option is spelt: Postgres takes any prefix of true/yes, on, 1
            "spelling": st.sampled_from(("true", "on", "t", "1")),
        }
    ),
    min_size=1,
    max_size=3,
)


@SETTINGS
@given(chain=links)
def test_a_view_handing_tenant_rows_to_the_api_fails_verify(
    migrated: Any, chain: list[dict[str, Any]]
) -> None:
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute("select user_id::text from public.user_tenants limit 1")
        user = cur.fetchone()[0]
        cur.execute("create schema private")
        cur.execute("grant usage on schema private to anon, authenticated")
        names = [f"{link['schema']}.v{i}" for i, link in enumerate(chain)]
        for i in reversed(range(len(chain))):
            link = chain[i]
            source = "public.files" if i == len(chain) - 1 else names[i + 1]
            option = f" with (security_invoker = {link['spelling']})" if link["invoker"] else ""
            cur.execute(f"create view {names[i]}{option} as select * from {source}")
            if link["granted"]:
                cur.execute(f"grant select on {names[i]} to anon, authenticated")
            else:
                cur.execute(f"revoke all on {names[i]} from public, anon, authenticated")
        cur.execute("savepoint probe")
        act_as(cur, "authenticated", user)
        cur.execute("select count(*) from public.files")
        own = cur.fetchone()[0]
        leaks = []
        for name in names:
            cur.execute("savepoint read")
            try:
                cur.execute(f"select count(*) from {name}")
                if cur.fetchone()[0] > own:
                    leaks.append(name)
            except psycopg2.Error:
                cur.execute("rollback to savepoint read")
        cur.execute("rollback to savepoint probe")
        found = _named(cur)
        conn.rollback()
    named = {name for name in names if any(name in d for d in found)}
    expected = {
        name
        for name, link in zip(names, chain, strict=True)
        if not link["invoker"] and link["granted"]
    }
    assert named == expected, (found, leaks)
    if leaks:  # what a user reads past RLS, verify names
        assert named, (leaks, found)
