"""verify finds tenant tables in the schemas supabase/config.toml's `[api] schemas` exposes
(the local stack's PostgREST serves what that file says), not only public and the database's
own setting: a tenant table there without the boundary fails verify, named."""

from __future__ import annotations

from typing import Any

from supamigrate.connect.db import session
from tenant.test_verify import migrated  # noqa: F401 (a fixture)


def test_a_tenant_table_in_a_schema_config_toml_exposes_is_verified(
    migrated: Any,  # noqa: F811 (the fixture)
) -> None:
    with session(migrated.target) as conn, conn.cursor() as cur:
        cur.execute(
            "create schema app;\n"
            "grant usage on schema app to anon, authenticated;\n"
            "create table app.boards (id uuid primary key default gen_random_uuid(), "
            "tenant_id uuid references public.tenants (id), name text);\n"
            "grant select, insert, update, delete on app.boards to anon, authenticated;\n"
            "alter table app.boards enable row level security;\n"
            "create policy open on app.boards to authenticated using (true) with check (true);"
        )
    before = migrated.invoke("verify", "--json")
    # not exposed: not the API's, and not verify's
    assert "tenant boundary app.boards" not in before.stdout, before.stdout
    config = migrated.root / "supabase" / "config.toml"
    config.write_text('[api]\nschemas = ["public", "graphql_public", "app"]\n')
    result = migrated.invoke("verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  error    tenant boundary app.boards" in result.stdout, result.stdout
    config.write_text("[api]\nschemas = 3\n")
    bad = migrated.invoke("verify")
    assert bad.returncode == 2 and "[api] schemas" in bad.stdout + bad.stderr, bad.stderr
